//! The inventory and `venvfix pythons`, on real interpreters and real processes.
//!
//! Every test builds its own tree in a unique temp dir and points the cache there. "Other
//! installations" are thin copies of this machine's Python (the binary copied, its `lib/pythonX.Y`
//! linked), which report their own prefix; broken interpreters (hanging, printing garbage,
//! failing) are tiny C programs, since scripts are never run.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;
use venvfix::inventory::{Inventory, InventoryOptions, Locations, Source};

/// This machine's Python: canonical executable and `X.Y.Z`. `python3` on PATH may be a pyenv
/// shim script, so it is asked for `sys.executable`.
fn real_python() -> &'static (PathBuf, String) {
    static REAL: OnceLock<(PathBuf, String)> = OnceLock::new();
    REAL.get_or_init(|| {
        let out = StdCommand::new("python3")
            .args([
                "-c",
                "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])",
            ])
            .output()
            .expect("python3 must be on PATH for these tests");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let exe = fs::canonicalize(lines.next().unwrap()).unwrap();
        (exe, lines.next().unwrap().to_string())
    })
}

/// A thin copy of the real Python's installation at `prefix`: `bin/pythonX.Y` copied,
/// `bin/python3 -> pythonX.Y`, `lib/pythonX.Y` linked to the original. Returns the executable.
fn thin_copy(prefix: &Path) -> PathBuf {
    let (exe, _) = real_python();
    let name = exe.file_name().unwrap();
    let original = exe.parent().unwrap().parent().unwrap();
    let lib_name = format!(
        "python{}",
        name.to_str().unwrap().trim_start_matches("python")
    );
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::create_dir_all(prefix.join("lib")).unwrap();
    let copy = prefix.join("bin").join(name);
    copy_executable(exe, &copy);
    symlink(name, prefix.join("bin/python3")).unwrap();
    symlink(
        original.join("lib").join(&lib_name),
        prefix.join("lib").join(&lib_name),
    )
    .unwrap();
    copy
}

/// Compile a C program to `out` (an executable that is not a script).
fn compile(out: &Path, source: &str) {
    let dir = out.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    let src = dir.join(format!("{}.c", out.file_name().unwrap().to_str().unwrap()));
    fs::write(&src, source).unwrap();
    let status = StdCommand::new("cc")
        .arg("-o")
        .arg(out)
        .arg(&src)
        .status()
        .expect("these tests need a C compiler (`cc`, e.g. gcc) to build fake interpreters");
    assert!(status.success(), "cc failed on {}", src.display());
    fs::remove_file(&src).unwrap();
}

/// A fake interpreter that counts its runs in `counter` and answers the probe as `version`.
fn counting_python(out: &Path, counter: &Path, version: (u32, u32, u32)) {
    let (major, minor, micro) = version;
    let source = format!(
        r#"#include <stdio.h>
int main(void) {{
    FILE *f = fopen("{counter}", "a");
    if (f) {{ fputs("run\n", f); fclose(f); }}
    printf("{{\"marker\": \"venvfix-probe\", \"version_info\": [{major}, {minor}, {micro}, \"final\", 0], "
           "\"implementation\": \"cpython\", \"base_prefix\": \"/fake\", \"base_exec_prefix\": \"/fake\", "
           "\"executable\": \"/fake/bin/python3\", \"platform\": \"linux\"}}");
    return 0;
}}
"#,
        counter = counter.display()
    );
    compile(out, &source);
}

fn runs(counter: &Path) -> usize {
    fs::read_to_string(counter)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// `venvfix` with discovery confined: no inherited manager variables, a cache in `tmp`.
fn venvfix(tmp: &Path) -> Command {
    let mut cmd = Command::cargo_bin("venvfix").unwrap();
    for var in [
        "VENVFIX_PYTHON_SEARCH_PATH",
        "VENVFIX_PROBE_TIMEOUT_MS",
        "PYENV_ROOT",
        "ASDF_DATA_DIR",
        "MISE_DATA_DIR",
        "UV_PYTHON_INSTALL_DIR",
        "XDG_DATA_HOME",
        "RYE_HOME",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", tmp.join("home"))
        .env("VENVFIX_CACHE_DIR", tmp.join("cache"))
        .env("PATH", "")
        .arg("--color=never");
    cmd
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn options(tmp: &Path, search_path: Option<Vec<PathBuf>>) -> InventoryOptions {
    InventoryOptions {
        search_path,
        cache_dir: Some(tmp.join("cache")),
        refresh: false,
        timeout: Duration::from_secs(10),
    }
}

/// Copy the executable `from` to `to` (in place when `to` exists) with a child `cp`, not
/// `fs::copy`: no write handle of this process for a forking test thread to pass on, which
/// would make executing the copy fail with "Text file busy".
fn copy_executable(from: &Path, to: &Path) {
    let copied = std::process::Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(copied.success());
}
#[test]
fn finds_managers_in_a_fake_home_and_skips_shims_and_venvs() {
    let tmp = TempDir::new().unwrap();
    let home = tmp.path().join("home");
    let pyenv = thin_copy(&home.join(".pyenv/versions/9.1.0"));
    let asdf = thin_copy(&home.join(".asdf/installs/python/9.2.0"));
    let uv = thin_copy(&home.join(".local/share/uv/python/cpython-9.3.0-linux-x86_64-gnu"));

    // A pyenv shim is a script: never an interpreter.
    let shims = home.join(".pyenv/shims");
    fs::create_dir_all(&shims).unwrap();
    fs::write(
        shims.join("python3"),
        "#!/usr/bin/env bash\nexec pyenv exec python3 \"$@\"\n",
    )
    .unwrap();
    // A venv holds a real binary, but it is not an installation (pyenv-virtualenv puts them
    // among the versions, and users keep them anywhere).
    for venv in [
        home.join(".pyenv/versions/myenv"),
        home.join("project/.venv"),
    ] {
        let exe = thin_copy(&venv);
        fs::write(venv.join("pyvenv.cfg"), "home = /somewhere\n").unwrap();
        assert!(exe.exists());
    }

    let locations = Locations {
        home: Some(home.clone()),
        // PATH sees the pyenv build too, and the shims: pyenv must still win.
        path: vec![shims.clone(), pyenv.parent().unwrap().to_path_buf()],
        machine_wide: false,
        ..Locations::default()
    };
    let inventory = Inventory::discover_in(&options(tmp.path(), None), &locations);
    assert!(inventory.failures.is_empty(), "{:?}", inventory.failures);

    let (_, version) = real_python();
    let mut sources: Vec<(Source, PathBuf)> = inventory
        .pythons
        .iter()
        .map(|p| (p.source, p.path.clone()))
        .collect();
    sources.sort();
    let canonical = |p: &Path| fs::canonicalize(p).unwrap();
    assert_eq!(
        sources,
        [
            (Source::Pyenv, canonical(&pyenv)),
            (Source::Asdf, canonical(&asdf)),
            (Source::Uv, canonical(&uv)),
        ]
    );
    for python in &inventory.pythons {
        assert_eq!(python.version.to_string(), *version);
        assert_eq!(python.implementation, "cpython");
        assert_eq!(
            python.prefix,
            python.path.parent().unwrap().parent().unwrap()
        );
        assert!(!python.os_managed);
        assert_eq!(
            python.aliases,
            [python.path.with_file_name("python3")],
            "{}",
            python.path.display()
        );
    }

    // The detector's questions.
    let found = inventory.find(&pyenv.with_file_name("python3")).unwrap();
    assert_eq!(found.path, canonical(&pyenv));
    assert_eq!(inventory.find_by_dir(asdf.parent().unwrap()).len(), 1);
    assert!(
        inventory
            .find(&home.join("project/.venv/bin/python3"))
            .is_none()
    );
    assert!(inventory.find(&shims.join("python3")).is_none());
    assert!(
        inventory
            .find_by_dir(&home.join(".pyenv/versions/myenv/bin"))
            .is_empty()
    );
}

#[test]
fn json_output_lists_search_path_pythons() {
    let tmp = TempDir::new().unwrap();
    let bin_dir_copy = thin_copy(&tmp.path().join("a"));
    // A prefix dir (no python directly in it) is searched through its `bin/`.
    let prefix_copy = thin_copy(&tmp.path().join("b"));
    let search = format!(
        "{}:{}",
        bin_dir_copy.parent().unwrap().display(),
        tmp.path().join("b").display()
    );
    let output = venvfix(tmp.path())
        .env("VENVFIX_PYTHON_SEARCH_PATH", search)
        .args(["pythons", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let json = json_of(&output);
    let pythons = json["pythons"].as_array().unwrap();
    assert_eq!(pythons.len(), 2, "{json:#}");
    let (_, version) = real_python();
    let mut paths = Vec::new();
    for python in pythons {
        assert_eq!(python["version"], version.as_str());
        assert_eq!(python["implementation"], "cpython");
        assert_eq!(python["source"], "search-path");
        assert_eq!(python["os_managed"], false);
        let path = PathBuf::from(python["path"].as_str().unwrap());
        let prefix = PathBuf::from(python["prefix"].as_str().unwrap());
        assert_eq!(prefix, path.parent().unwrap().parent().unwrap());
        assert_eq!(
            python["aliases"][0].as_str().unwrap(),
            path.with_file_name("python3").to_str().unwrap()
        );
        paths.push(path);
    }
    paths.sort();
    assert_eq!(
        paths,
        [
            fs::canonicalize(bin_dir_copy).unwrap(),
            fs::canonicalize(prefix_copy).unwrap()
        ]
    );
    assert_eq!(json["failures"], serde_json::json!([]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("found 2 Pythons in "), "{stderr}");
}

#[test]
fn text_output_is_a_table_with_aliases() {
    let tmp = TempDir::new().unwrap();
    let exe = thin_copy(&tmp.path().join("p"));
    let output = venvfix(tmp.path())
        .env("VENVFIX_PYTHON_SEARCH_PATH", exe.parent().unwrap())
        .args(["pythons"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let (_, version) = real_python();
    let canonical = fs::canonicalize(&exe).unwrap();
    let first = format!("{version}  cpython  search-path  {}", canonical.display());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], first, "{stdout}");
    assert!(lines[1].trim() == canonical.with_file_name("python3").to_str().unwrap());

    // -q hides the summary, not the data.
    let quiet = venvfix(tmp.path())
        .env("VENVFIX_PYTHON_SEARCH_PATH", exe.parent().unwrap())
        .args(["-q", "pythons"])
        .output()
        .unwrap();
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    assert_eq!(String::from_utf8(quiet.stdout).unwrap(), stdout);
}

#[test]
fn finds_this_machines_python_by_its_real_path() {
    let tmp = TempDir::new().unwrap();
    let (exe, version) = real_python();
    let inventory = Inventory::discover_in(
        &options(tmp.path(), Some(vec![exe.parent().unwrap().to_path_buf()])),
        &Locations::default(),
    );
    let found = inventory.find(exe).expect("the real python is found");
    assert_eq!(found.version.to_string(), *version);
    assert_eq!(found.source, Source::SearchPath);
}

#[test]
fn broken_interpreters_are_failures_and_a_hang_is_cut_off() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("bin");
    let pid_file = tmp.path().join("grandchild.pid");
    // Hangs, and starts a grandchild holding the output pipes: both must be killed.
    compile(
        &dir.join("python3.97"),
        &format!(
            r#"#include <stdio.h>
#include <unistd.h>
int main(void) {{
    pid_t pid = fork();
    if (pid == 0) {{
        FILE *f = fopen("{}", "w");
        if (f) {{ fprintf(f, "%d", (int)getpid()); fclose(f); }}
    }}
    for (;;) pause();
}}
"#,
            pid_file.display()
        ),
    );
    compile(
        &dir.join("python3.98"),
        "#include <stdio.h>\nint main(void) { puts(\"this is not json\"); return 0; }\n",
    );
    compile(
        &dir.join("python3.99"),
        "#include <stdio.h>\nint main(void) { fputs(\"boom\\n\", stderr); return 3; }\n",
    );
    let real = thin_copy(&tmp.path().join("p"));
    let search = format!("{}:{}", dir.display(), real.parent().unwrap().display());

    let started = Instant::now();
    let output = venvfix(tmp.path())
        .env("VENVFIX_PYTHON_SEARCH_PATH", search)
        .env("VENVFIX_PROBE_TIMEOUT_MS", "500")
        .args(["pythons", "--json"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    let json = json_of(&output);
    assert_eq!(json["pythons"].as_array().unwrap().len(), 1, "{json:#}");
    let failures = json["failures"].as_array().unwrap();
    let reason_of = |name: &str| {
        failures
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no failure for {name}: {json:#}"))
    };
    assert!(reason_of("python3.97").contains("did not answer within 0.5s"));
    assert!(reason_of("python3.98").contains("not the probe's answer: `this is not json`"));
    assert!(reason_of("python3.99").contains("exited with exit code 3: boom"));

    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in ["python3.97", "python3.98", "python3.99"] {
        let line = stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no warning for {name}: {stderr}"));
        assert!(line.starts_with("warning: "), "{line}");
    }

    // The grandchild died with its group.
    let pid = fs::read_to_string(&pid_file).expect("the hanging program forked");
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(2);
    while proc_dir.exists()
        && !fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive = proc_dir.exists()
        && !fs::read_to_string(proc_dir.join("stat")).is_ok_and(|s| s.contains(") Z "));
    assert!(!alive, "grandchild {} still running", pid.trim());
}

#[test]
fn cache_skips_known_interpreters_and_notices_changes() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("bin");
    let counter = tmp.path().join("runs");
    let exe = dir.join("python3.96");
    counting_python(&exe, &counter, (3, 96, 1));
    let replacement = tmp.path().join("build/python3.96");
    counting_python(&replacement, &counter, (3, 96, 2));
    let cache_file = tmp.path().join("cache/interpreters.json");

    let list = |extra: &[&str]| {
        let output = venvfix(tmp.path())
            .env("VENVFIX_PYTHON_SEARCH_PATH", &dir)
            .arg("pythons")
            .arg("--json")
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let json = json_of(&output);
        json["pythons"][0]["version"].as_str().unwrap().to_string()
    };

    assert_eq!(list(&[]), "3.96.1");
    assert_eq!(runs(&counter), 1);
    assert!(cache_file.exists());
    assert_eq!(list(&[]), "3.96.1");
    assert_eq!(runs(&counter), 1, "the second run used the cache");

    // Replaced in place (same inode, new bytes and times): probed again.
    copy_executable(&replacement, &exe);
    assert_eq!(list(&[]), "3.96.2");
    assert_eq!(runs(&counter), 2);
    assert_eq!(list(&[]), "3.96.2");
    assert_eq!(runs(&counter), 2);

    // --refresh asks again, and the result is cached for the next run.
    assert_eq!(list(&["--refresh"]), "3.96.2");
    assert_eq!(runs(&counter), 3);
    assert_eq!(list(&[]), "3.96.2");
    assert_eq!(runs(&counter), 3);

    // A corrupt cache is ignored and rewritten.
    fs::write(&cache_file, b"\0\0 not json").unwrap();
    assert_eq!(list(&[]), "3.96.2");
    assert_eq!(runs(&counter), 4);
    let text = fs::read_to_string(&cache_file).unwrap();
    let cache: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cache["format"], 2);
    assert_eq!(list(&[]), "3.96.2");
    assert_eq!(runs(&counter), 4);
}

#[test]
fn an_unusable_cache_dir_is_not_an_error() {
    let tmp = TempDir::new().unwrap();
    let counter = tmp.path().join("runs");
    let dir = tmp.path().join("bin");
    counting_python(&dir.join("python3.95"), &counter, (3, 95, 0));
    let blocker = tmp.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    for _ in 0..2 {
        venvfix(tmp.path())
            .env("VENVFIX_PYTHON_SEARCH_PATH", &dir)
            .env("VENVFIX_CACHE_DIR", blocker.join("cache"))
            .arg("pythons")
            .assert()
            .success();
    }
    assert_eq!(runs(&counter), 2, "nothing cached, nothing failed");
}

#[test]
fn static_version_agrees_with_the_probe() {
    let (exe, version) = real_python();
    let found = venvfix::inventory::static_version(exe).expect("a version from the prefix");
    assert_eq!(found.prefix, exe.parent().unwrap().parent().unwrap());
    let probed: venvfix::version::PythonVersion = version.parse().unwrap();
    assert!(found.version.same_minor(&probed), "{found:?}");
    if found.evidence.ends_with("patchlevel.h") {
        assert_eq!(found.version, probed);
    }

    // A thin copy has no headers: its lib dir names the minor.
    let tmp = TempDir::new().unwrap();
    let copy = thin_copy(&tmp.path().join("p"));
    let found = venvfix::inventory::static_version(&copy.with_file_name("python3")).unwrap();
    assert_eq!(found.version.short(), probed.short());
    assert_eq!(found.version.patch, None);
}
