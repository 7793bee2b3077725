//! A Python interpreter with `numpy` and `safetensors`, for tests that check
//! gradlang's files against the Python libraries that define the formats.
//!
//! The interpreter is a virtual environment made once, `<target>/test-venv`
//! (the target directory of the build: `CARGO_TARGET_DIR`, else `target/`),
//! with `python3 -m venv` and `pip install numpy safetensors`, and reused by
//! later runs. An exclusive `flock` on `<target>/test-venv.lock` makes tests
//! that ask at once (threads of one test binary, or several binaries) wait for
//! one creation; the lock goes with the process, so a killed run leaves no
//! stale lock. Python 3 is `$PYTHON` when set, else `python3`.
//!
//! When Python, `venv` or `pip` (or the package index) is unavailable, the
//! test FAILS with what was tried and what it said: these tests prove
//! compatibility and must not pass by not running.

#![allow(dead_code)] // each test binary uses its own part of `common`

use std::fs::OpenOptions;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The modules the interpreter must import.
const PACKAGES: &[&str] = &["numpy", "safetensors"];

/// The target directory of this build (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// The venv's interpreter, created on first use. Panics, with what went
/// wrong, when it cannot be made.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(|| prepare(&target_dir())) {
        Ok(p) => p.clone(),
        Err(e) => panic!(
            "this test needs Python 3 with venv and pip, and the packages {PACKAGES:?} \
             from the package index; setting that up failed:\n{e}"
        ),
    }
}

/// Runs `python -c script args...`; returns stdout, panicking with stderr when
/// the script fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let py = python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "the Python script failed ({}):\n{}\n--- script ---\n{script}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the script prints UTF-8")
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn has_packages(python: &Path) -> bool {
    let imports = format!("import {}", PACKAGES.join(", "));
    Command::new(python)
        .args(["-c", &imports])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a set-up command; `Err` with its output when it cannot start or fails.
fn step(what: &str, cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn prepare(target: &Path) -> Result<PathBuf, String> {
    let venv = target.join("test-venv");
    let python = venv_python(&venv);
    std::fs::create_dir_all(target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let lock_path = target.join("test-venv.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the lock {}: {e}", lock_path.display()))?;
    // SAFETY: flock on a descriptor this function owns; released when `lock`
    // is dropped (or the process ends).
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "cannot lock {}: {}",
            lock_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    if has_packages(&python) {
        return Ok(python);
    }
    if !python.exists() {
        let system = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
        step(
            "creating the test venv",
            Command::new(&system).arg("-m").arg("venv").arg(&venv),
        )?;
    }
    step(
        "installing the test venv's packages",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES),
    )?;
    if !has_packages(&python) {
        return Err(format!(
            "{} still cannot import {PACKAGES:?} after installing them",
            python.display()
        ));
    }
    Ok(python)
}
