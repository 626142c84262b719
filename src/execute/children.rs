//! Programs venvfix starts die with it (DESIGN.md rule 6): an installer still writing into a
//! venv after venvfix was killed would undo the rollback the next run makes.
//!
//! Every child an operation that changes a venv starts goes through [`contain`]: it gets
//! `PR_SET_PDEATHSIG(SIGKILL)` (the kernel kills it when venvfix dies, even by `kill -9`) and
//! joins one process group per venvfix process, led by a tiny forked process that does nothing
//! but wait for venvfix to die ([`group`]). The group's id and its leader's start time are journaled before any
//! installer starts, so recovery can kill what is left of the group (grandchildren such as a
//! build backend do not inherit the death signal) before it restores anything
//! ([`kill_group`]). The start time guards against a reused process id: a group is killed only
//! while its leader is gone or is the very process recorded.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A process group venvfix's children run in, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildGroup {
    pub pgid: i32,
    /// The leader's start time (`/proc/PID/stat` field 22, clock ticks since boot).
    pub leader_start: u64,
}

/// The process group of this venvfix's children, started at the first call. `None` if it could
/// not be made (children then get their own group and still the death signal).
pub fn group() -> Option<ChildGroup> {
    static GROUP: OnceLock<Option<ChildGroup>> = OnceLock::new();
    *GROUP.get_or_init(start_leader)
}

fn start_leader() -> Option<ChildGroup> {
    let parent = std::process::id() as i32;
    // SAFETY: the child calls only async-signal-safe functions (setpgid, getppid, nanosleep,
    // _exit) and never returns into Rust code. It watches for venvfix's death itself: the death
    // signal of `prctl` follows the forking *thread*, which may end long before venvfix.
    match unsafe { nix::unistd::fork() }.ok()? {
        nix::unistd::ForkResult::Child => unsafe {
            // Hold nothing of venvfix's: not its venv locks, not the write end of a pipe
            // another thread is reading (that reader would never see its end).
            if nix::libc::syscall(nix::libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
                for fd in 0..4096 {
                    nix::libc::close(fd);
                }
            }
            nix::libc::setpgid(0, 0);
            let tick = nix::libc::timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            };
            while nix::libc::getppid() == parent {
                nix::libc::nanosleep(&tick, std::ptr::null_mut());
            }
            nix::libc::_exit(0);
        },
        nix::unistd::ForkResult::Parent { child } => {
            // Both sides set the group, so it exists whichever runs first.
            let _ = nix::unistd::setpgid(child, child);
            let leader_start = start_time(child.as_raw())?;
            Some(ChildGroup {
                pgid: child.as_raw(),
                leader_start,
            })
        }
    }
}

/// Make `command` die with venvfix and run in venvfix's child group.
pub fn contain(command: &mut Command) -> &mut Command {
    let parent = std::process::id() as i32;
    let pgid = group().map_or(0, |g| g.pgid);
    command.process_group(pgid);
    // SAFETY: prctl, getppid and _exit are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL, 0, 0, 0);
            // venvfix died between fork and prctl: do not run the program at all.
            if nix::libc::getppid() != parent {
                nix::libc::_exit(1);
            }
            Ok(())
        })
    };
    command
}

/// `/proc/PID/stat` fields after the command name: (pgrp, start time).
fn stat_of(pid: i32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // rest starts at field 3 (state): pgrp is field 5, starttime field 22.
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn start_time(pid: i32) -> Option<u64> {
    stat_of(pid).map(|(_, start)| start)
}

/// The live members of `group` (never when its id now leads another process).
fn members(group: &ChildGroup) -> Vec<i32> {
    if let Some((_, start)) = stat_of(group.pgid)
        && start != group.leader_start
    {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            stat_of(*pid)
                .is_some_and(|(pgrp, start)| pgrp == group.pgid && start >= group.leader_start)
        })
        .collect()
}

/// Kill what is left of a recorded child group and wait (up to a few seconds) until it is
/// gone. Returns how many processes were still alive.
pub fn kill_group(group: &ChildGroup) -> usize {
    let alive = members(group);
    if alive.is_empty() {
        return 0;
    }
    for pid in &alive {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !members(group).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    alive.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_join_the_group_and_a_recorded_group_is_killed() {
        let group = group().expect("a leader process");
        let mut child = contain(Command::new("sleep").arg("30")).spawn().unwrap();
        let (pgrp, _) = stat_of(child.id() as i32).unwrap();
        assert_eq!(pgrp, group.pgid);
        // Another group id with the leader's id but not its start time is never touched.
        let forged = ChildGroup {
            pgid: group.pgid,
            leader_start: group.leader_start + 1,
        };
        assert!(members(&forged).is_empty());
        // Only the child: the leader itself is spared here so other tests keep their group.
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        assert!(members(&group).iter().all(|p| *p == group.pgid));
    }
}
