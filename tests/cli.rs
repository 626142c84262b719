//! The command line as a user and a script meet it, on the built binary: `--version`, help
//! layout and wrapping, completions loaded by a real bash, the man page rendered by `man -l`,
//! the config file, JSON documents (`schema`, `summary`, error `code`s), shell-quoted hints that
//! round-trip through `sh -c`, and control characters in names escaped in text output
//! (DESIGN.md rule 9) while JSON carries them exactly.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

#[test]
fn version_names_the_commit_and_its_date() {
    let env = TestEnv::new();
    let out = env.venvfix().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = stdout_of(&out);
    let expected = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout_of(&o).trim().to_string());
    match expected {
        // Built from a git checkout: `venvfix 0.1.0 (0f7545e1c 2026-12-02)`.
        Some(commit) => {
            assert!(
                text.starts_with(&format!("venvfix {} ({commit} ", env!("CARGO_PKG_VERSION"))),
                "{text}"
            );
            let date = text
                .trim()
                .trim_end_matches(')')
                .rsplit(' ')
                .next()
                .unwrap();
            assert_eq!(date.len(), 10, "{text}");
            assert_eq!(date.matches('-').count(), 2, "{text}");
        }
        None => assert!(text.starts_with("venvfix "), "{text}"),
    }
}

#[test]
fn repair_help_lists_its_own_options_apart_from_global_ones() {
    let env = TestEnv::new();
    let out = env.venvfix().args(["repair", "--help"]).output().unwrap();
    let text = stdout_of(&out);
    let own = text.find("--dry-run").expect("--dry-run in help");
    let global = text
        .find("Global options:")
        .expect("a Global options heading");
    let color = text.find("--color").expect("--color in help");
    assert!(own < global && global < color, "{text}");
}

#[test]
fn help_is_wrapped_at_the_terminal_width_without_breaking_words() {
    let env = TestEnv::new();
    for width in [60usize, 150] {
        let out = env
            .venvfix()
            .args(["repair", "--help"])
            .env("COLUMNS", width.to_string())
            .output()
            .unwrap();
        let text = stdout_of(&out);
        for line in text.lines() {
            assert!(line.chars().count() <= width, "{width}: {line:?}");
        }
        // A word that would straddle the margin moves to the next line whole.
        assert!(
            text.contains("decision") || text.contains("decision\n"),
            "{text}"
        );
        for line in text.lines() {
            assert!(!line.ends_with("deci"), "{line:?}");
        }
    }
}

#[test]
fn bash_loads_the_completions_and_completes_subcommands_and_flags() {
    let env = TestEnv::new();
    let script = env.path("venvfix.bash");
    let out = env
        .venvfix()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &str| -> String {
        let program = format!(
            "source {} && COMP_WORDS=({words}) && COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )) && \
             COMP_LINE=\"${{COMP_WORDS[*]}}\" && COMP_POINT=${{#COMP_LINE}} && \
             _venvfix venvfix \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    let subcommands = complete("venvfix re");
    assert!(subcommands.lines().any(|l| l == "repair"), "{subcommands}");
    let flags = complete("venvfix repair --str");
    assert!(flags.lines().any(|l| l == "--strategy"), "{flags}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = env.venvfix().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && out.stdout.len() > 100, "{shell}");
    }
}

#[test]
fn man_page_renders_with_man_and_has_the_extra_sections() {
    let env = TestEnv::new();
    let out = env.venvfix().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let page = env.path("venvfix.1");
    fs::write(&page, &out.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("`man` (apt-get install man-db)");
    assert!(rendered.status.success(), "{}", stderr_of(&rendered));
    assert!(
        stderr_of(&rendered).trim().is_empty(),
        "groff warnings: {}",
        stderr_of(&rendered)
    );
    let text = stdout_of(&rendered);
    for needle in [
        "NAME",
        "SYNOPSIS",
        "ENVIRONMENT",
        "VENVFIX_PYTHON_SEARCH_PATH",
        "FILES",
        "config.toml",
        "EXIT STATUS",
        "VENVFIX REPAIR",
        "--dry-run",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

/// A real venv made with python3, then moved to `dest` (its scripts still name the old place).
fn real_venv_at(env: &TestEnv, dest: &Path) {
    let python = python3();
    let made = env.path("made-here");
    make_venv(&python.exe, &made, &[]);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::rename(&made, dest).unwrap();
}

/// A real venv at `dest` whose base was uninstalled (python3's minor is still installed, so a
/// relink fixes it): the seed story of `pyenv uninstall`.
fn broken_venv_at(env: &TestEnv, dest: &Path) {
    let python = python3();
    let base = env.copy_prefix(&python, "old-python");
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    make_venv(&base.exe, dest, &[]);
    fs::remove_dir_all(&base.prefix).unwrap();
}

#[test]
fn every_json_document_has_schema_1() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let venv = env.path("proj/.venv");
    real_venv_at(&env, &venv);
    let documents = [
        vec!["check", "--json", "proj"],
        vec!["check", "--json", "does-not-exist"],
        vec!["repair", "--dry-run", "--json", "proj"],
        vec!["pythons", "--json"],
    ];
    for args in documents {
        let out = env.venvfix().args(&args).output().unwrap();
        let doc = json_of(&out);
        assert_eq!(doc["schema"], 1, "{args:?}: {doc:#}");
        let first = stdout_of(&out);
        assert!(
            first.trim_start().starts_with("{\n  \"schema\": 1"),
            "schema first: {args:?}"
        );
    }
}

#[test]
fn repair_json_has_a_summary_and_errors_have_codes() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    real_venv_at(&env, &env.path("proj/.venv"));
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json", "proj"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let summary = &doc["summary"];
    for key in ["planned", "repaired", "unchanged", "skipped", "failed"] {
        assert!(summary[key].is_u64(), "{key}: {doc:#}");
    }
    let total: u64 = ["planned", "repaired", "unchanged", "skipped", "failed"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, doc["venvs"].as_array().unwrap().len() as u64);

    let out = env
        .venvfix()
        .args(["check", "--json", "nowhere", "proj/.venv/pyvenv.cfg/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc = json_of(&out);
    let codes: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["not-found", "not-found"], "{doc:#}");
}

/// The backquoted `venvfix ...` command of the first hint line in `text` (up to the line's
/// last backquote: the path itself may hold one).
fn quoted_command(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("hint") && l.contains("`venvfix "))
        .unwrap_or_else(|| panic!("a `venvfix ...` hint in:\n{text}"));
    let start = line.find("`venvfix ").unwrap() + 1;
    let end = line.rfind('`').unwrap();
    line[start..end].to_string()
}

#[test]
fn paths_in_hints_round_trip_through_sh() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let venv = env.path("sp ace/prøjekt ü/it's $HOME `x`/.venv");
    broken_venv_at(&env, &venv);
    let out = env.venvfix().arg("check").arg(&venv).output().unwrap();
    let text = stdout_of(&out);
    let command = quoted_command(&text);
    assert!(command.starts_with("venvfix repair"), "{text}");
    // The shell splits the hint back into the exact path.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "set -- {command}; for last; do :; done; printf '%s' \"$#\" \"$last\""
        ))
        .output()
        .unwrap();
    let words = stdout_of(&out);
    assert!(out.status.success(), "{command}: {}", stderr_of(&out));
    let (count, last) = words.split_at(1);
    assert!(count.parse::<usize>().unwrap() >= 3, "{words}");
    assert_eq!(Path::new(last), venv, "{command}");
}

#[test]
fn control_characters_in_names_are_escaped_in_text_and_exact_in_json() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let hostile = "evil\nok /fake/venv\x1b]0;pwned\x07\x1b[2J";
    let venv = env.path(hostile).join(".venv");
    real_venv_at(&env, &venv);
    for color in ["never", "always"] {
        let out = env
            .venvfix()
            .args(["check", "-v", "--color", color, "."])
            .output()
            .unwrap();
        let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
        assert!(
            !stdout.lines().any(|l| l.starts_with("ok /fake/venv")),
            "a forged line:\n{stdout}"
        );
        for bad in [b"\x1b]0;".as_slice(), b"\x07", b"\x1b[2J"] {
            for stream in [&out.stdout, &out.stderr] {
                assert!(
                    !stream.windows(bad.len()).any(|w| w == bad),
                    "{color}: raw {bad:?} in {stdout}{stderr}"
                );
            }
        }
        assert!(
            stdout.contains("evil\\nok /fake/venv\\033]0;pwned\\a\\033[2J"),
            "{color}: shown like `ls -b`:\n{stdout}"
        );
    }
    let out = env
        .venvfix()
        .args(["check", "--json", "."])
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(
        doc["venvs"][0]["path"].as_str(),
        venv.to_str(),
        "JSON carries the name exactly"
    );
}

/// Write the config file of `env`.
fn write_config(env: &TestEnv, text: &str) -> PathBuf {
    let file = env.config_dir().join("venvfix/config.toml");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_malformed_config_file_names_its_line_and_column() {
    let env = TestEnv::new();
    let file = write_config(&env, "offline = true\nstrategy = relink\n");
    let out = env.venvfix().args(["check", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("`{}` line 2, column 12", file.display())),
        "{err}"
    );
    assert!(err.contains("--no-config"), "{err}");
    // `--no-config` runs as if there were no file.
    let out = env
        .venvfix()
        .args(["--no-config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    write_config(&env, "strategy = \"sideways\"\n");
    let out = env.venvfix().args(["check", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("line 1, column 12: unknown strategy `sideways`"),
        "{err}"
    );
    assert!(err.contains("relink"), "{err}");

    write_config(&env, "ofline = true\n");
    let out = env.venvfix().args(["check", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("ofline"), "{}", stderr_of(&out));
}

#[test]
fn config_sets_defaults_and_flags_win() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let homes = env.path("my-venvs");
    broken_venv_at(&env, &homes.join("tool"));
    let wheels = env.path("wheels");
    fs::create_dir_all(&wheels).unwrap();
    write_config(
        &env,
        &format!(
            "known-homes = [{:?}]\nstrategy = \"relink\"\nfind-links = [{:?}]\n",
            homes.display().to_string(),
            wheels.display().to_string()
        ),
    );
    // `--known` searches the config's extra home.
    let out = env
        .venvfix()
        .args(["check", "--known", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let paths: Vec<&str> = doc["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&homes.join("tool").to_str().unwrap()),
        "{doc:#}"
    );
    // The config's strategy is the default; `--strategy` on the command line wins.
    let plan = |extra: &[&str]| {
        let out = env
            .venvfix()
            .args(["repair", "--dry-run", "--json"])
            .args(extra)
            .arg(homes.join("tool"))
            .output()
            .unwrap();
        json_of(&out)["venvs"][0].clone()
    };
    let by_config = plan(&[]);
    assert_ne!(by_config["strategy"], "recreate", "{by_config:#}");
    let by_flag = plan(&["--strategy", "recreate"]);
    assert_eq!(by_flag["strategy"], "recreate", "{by_flag:#}");
    let find_links = &by_flag["actions"][0]["recreate"]["find_links"];
    assert_eq!(
        find_links[0].as_str(),
        wheels.to_str(),
        "find-links from the config: {by_flag:#}"
    );
    // `offline = true` in the file; `--online` on the command line wins.
    write_config(&env, "offline = true\n");
    let offline = |extra: &[&str]| {
        let mut args = vec!["--strategy", "recreate"];
        args.extend_from_slice(extra);
        plan(&args)["actions"][0]["recreate"]["offline"].clone()
    };
    assert_eq!(offline(&[]), true);
    assert_eq!(offline(&["--online"]), false);
}

#[test]
fn the_demo_script_checks_plans_repairs_and_undoes_a_real_venv() {
    let env = TestEnv::new();
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.sh"))
        .env("VENVFIX", env!("CARGO_BIN_EXE_venvfix"))
        .env("TMPDIR", env.root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    for step in [
        "[interpreter-missing]",
        "plan: relink to Python",
        "dry run: nothing was changed",
        "repaired ",
        "works again: ",
        "restored from",
    ] {
        assert!(all.contains(step), "{step} missing:\n{all}");
    }
    // The demo cleans up after itself.
    let left: Vec<_> = fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("venvfix-demo"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn check_with_no_venvs_says_what_it_searched() {
    let env = TestEnv::new();
    fs::create_dir_all(env.path("home/src/app")).unwrap();
    let out = env
        .venvfix()
        .args(["check", "home", "--known"])
        .env("HOME", env.path("home"))
        .output()
        .unwrap();
    // A first run on a machine without venvs ends well: nothing is broken (as `repair`).
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains("0 venvs checked"), "{err}");
    assert!(
        err.contains("no venv found in `home` (3 directories)"),
        "{err}"
    );
    assert!(err.contains("none of the well-known homes"), "{err}");
    // A path that does not exist is an error, without a summary of nothing.
    let out = env.venvfix().args(["check", "projects"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr_of(&out).contains("venvs checked"),
        "{}",
        stderr_of(&out)
    );
}

/// `repair --dry-run --json --python VALUE VENV` with extra environment: (exit code, the first
/// entry's target path or the stderr).
fn plan_with_python(
    env: &TestEnv,
    venv: &Path,
    value: &str,
    vars: &[(&str, &std::ffi::OsStr)],
) -> (Option<i32>, String) {
    let mut cmd = env.venvfix();
    cmd.args(["repair", "--dry-run", "--json", "--python", value])
        .arg(venv);
    for (key, val) in vars {
        cmd.env(key, val);
    }
    let out = cmd.output().unwrap();
    let target = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| doc["venvs"][0]["target"]["path"].as_str().map(String::from));
    (out.status.code(), target.unwrap_or_else(|| stderr_of(&out)))
}

#[test]
fn python_flag_takes_versions_paths_commands_and_pyenv_shims() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let venv = env.path("proj/.venv");
    broken_venv_at(&env, &venv);
    let exe = python.exe.to_str().unwrap().to_string();
    let bin = python.bin_dir().as_os_str().to_owned();

    // `3`, `X.Y`, `X.Y.Z` and the path itself.
    for value in [
        "3",
        python.minor.as_str(),
        python.version.as_str(),
        exe.as_str(),
    ] {
        assert_eq!(
            plan_with_python(&env, &venv, value, &[]),
            (Some(0), exe.clone()),
            "{value}"
        );
    }
    // A command name, looked up on PATH.
    let command = format!("python{}", python.minor);
    assert_eq!(
        plan_with_python(&env, &venv, &command, &[("PATH", &bin)]),
        (Some(0), exe.clone())
    );

    // A pyenv shim is followed to the version pyenv would run, read from its version files.
    let pyenv = env.path("pyenv");
    let pinned = env.copy_prefix(&python, "pyenv/versions/9.9.9-mine");
    let shim = pyenv.join("shims").join(&command);
    fs::create_dir_all(shim.parent().unwrap()).unwrap();
    fs::write(&shim, "#!/bin/sh\necho a shim is never run >&2; exit 1\n").unwrap();
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
    let shims = pyenv.join("shims").into_os_string();
    let (code, target) = plan_with_python(
        &env,
        &venv,
        &command,
        &[
            ("PATH", &shims),
            ("PYENV_ROOT", pyenv.as_os_str()),
            ("PYENV_VERSION", std::ffi::OsStr::new("9.9.9-mine")),
        ],
    );
    assert_eq!(code, Some(0), "{target}");
    assert_eq!(Path::new(&target), fs::canonicalize(&pinned.exe).unwrap());

    // Errors that say what is there instead.
    let (code, err) = plan_with_python(&env, &venv, "/nonexistent/python3", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`/nonexistent/python3` does not exist"),
        "{err}"
    );
    let absent = format!("{}.99", python.minor);
    let (code, err) = plan_with_python(&env, &venv, &absent, &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "the installed {} is {} (`{exe}`)",
            python.minor, python.version
        )),
        "{err}"
    );
    let (code, err) = plan_with_python(&env, &venv, "python-none", &[("PATH", &bin)]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no command `python-none` on PATH"), "{err}");
}

#[test]
fn an_empty_python_search_path_is_named_in_the_error_it_causes() {
    let env = TestEnv::new();
    let venv = env.path("proj/.venv");
    broken_venv_at(&env, &venv);
    // No Python registered: the harness sets VENVFIX_PYTHON_SEARCH_PATH to "".
    let (code, err) = plan_with_python(&env, &venv, "3", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`VENVFIX_PYTHON_SEARCH_PATH` is set but empty"),
        "{err}"
    );
}

#[test]
fn check_uses_names_the_venvs_that_would_break_and_what_venvfix_would_do() {
    let env = TestEnv::new();
    let python = python3();
    let other = env.copy_prefix(&python, "other-python");
    env.add_python(&python).add_python(&other);
    let on_other = env.path("projects/a/.venv");
    let on_python = env.path("projects/b/.venv");
    make_venv(&other.exe, &on_other, &[]);
    make_venv(&python.exe, &on_python, &[]);
    let before = snapshot(&env.path("projects"));

    let out = env
        .venvfix()
        .args(["check", "--json", "--uses"])
        .arg(&other.exe)
        .arg("projects")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let doc = json_of(&out);
    assert_eq!(doc["schema"], 1);
    let venvs = doc["venvs"].as_array().unwrap();
    assert_eq!(venvs.len(), 1, "{doc:#}");
    assert_eq!(venvs[0]["path"].as_str(), on_other.to_str());
    // Without that installation, the same minor is still installed: relink to it.
    assert_eq!(venvs[0]["then"]["strategy"], "relink", "{doc:#}");
    assert_eq!(venvs[0]["then"]["target"].as_str(), python.exe.to_str());
    assert_eq!(doc["summary"]["would_break"], 1);
    assert_eq!(doc["summary"]["checked"], 2);

    // Text: one line per venv that would break; -q only its path.
    let out = env
        .venvfix()
        .args(["check", "--uses"])
        .arg(&other.exe)
        .arg("projects")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("would break"), "{text}");
    assert!(text.contains("venvfix would relink to Python"), "{text}");
    assert!(
        stderr_of(&out).contains("1 venv of 2 checked uses Python"),
        "{}",
        stderr_of(&out)
    );
    let out = env
        .venvfix()
        .args(["-q", "check", "--uses"])
        .arg(&other.exe)
        .arg("projects")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), format!("{}\n", on_other.display()));
    assert!(out.stderr.is_empty(), "{}", stderr_of(&out));

    // Nothing uses a Python no venv was made with: exit 0.
    let unused = env.copy_prefix(&python, "unused-python");
    env.add_python(&unused);
    let out = env
        .venvfix()
        .args(["check", "--uses"])
        .arg(&unused.exe)
        .arg("projects")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // `pythons --venvs`: each Python with the venvs that use it.
    let out = env
        .venvfix()
        .args(["pythons", "--venvs", "--json", "projects"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let venvs_of = |exe: &Path| -> Vec<String> {
        let canonical = fs::canonicalize(exe).unwrap();
        doc["pythons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str() == canonical.to_str())
            .unwrap_or_else(|| panic!("{} in {doc:#}", exe.display()))["venvs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(venvs_of(&other.exe), [on_other.to_str().unwrap()]);
    assert_eq!(venvs_of(&python.exe), [on_python.to_str().unwrap()]);
    assert!(venvs_of(&unused.exe).is_empty());
    let out = env
        .venvfix()
        .args(["pythons", "--venvs", "projects"])
        .output()
        .unwrap();
    assert!(
        stdout_of(&out).contains(&format!("used by {}", on_other.display())),
        "{}",
        stdout_of(&out)
    );
    assert_same_tree(&before, &snapshot(&env.path("projects")));
}

#[test]
fn quiet_batch_repair_and_undo_print_no_hints() {
    let env = TestEnv::new();
    let python = python3();
    env.add_python(&python);
    let (a, b) = (env.path("projects/a/.venv"), env.path("projects/b/.venv"));
    broken_venv_at(&env, &a);
    broken_venv_at(&env, &b);

    // A quiet dry run lists the venvs the plans would change, one a line.
    let out = env
        .venvfix()
        .args(["-q", "repair", "--dry-run", "projects"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        format!("{}\n{}\n", a.display(), b.display()),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(stderr_of(&out), "");
    let out = env
        .venvfix()
        .args(["-q", "repair", "--yes", "projects"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("hint"), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains("hint"), "{}", stdout_of(&out));

    let out = env.venvfix().args(["-q", "undo"]).arg(&a).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
    // Nothing left to undo: the error, without the hint.
    let out = env.venvfix().args(["-q", "undo"]).arg(&a).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.starts_with("error:"), "{err}");
    assert!(!err.contains("hint"), "{err}");
}
