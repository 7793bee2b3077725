//! The Neovim setup end to end: headless Neovim loads `editors/nvim` (the
//! runtime folder users add to 'runtimepath') and runs
//! `editors/nvim/test/e2e.lua` against the built `gradlang` server. The script
//! opens a `.grad` file with a transposed weight (`y = h @ W`), waits for the
//! E0302 diagnostic, checks the inlay hint of a binding's shape, applies the
//! "did you mean `W.T`?" quick fix, waits for the diagnostics to clear and
//! writes the file; this test then checks the file's new text.
//!
//! Neovim is not a dependency of the project: when no `nvim` is on `PATH` the
//! test prints a note and passes without running anything. When there is one it
//! must pass (0.7 or later; run with 0.7.2 and 0.11.4). `GRADLANG_TEST_NVIM=/path/to/nvim`
//! picks another binary, which must then exist. Run it alone with
//! `cargo test --release --test nvim_e2e`; the script alone is run by the
//! command line in its header.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `GRADLANG_TEST_NVIM`, or the first `nvim` on `PATH`.
fn find_nvim() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GRADLANG_TEST_NVIM") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "GRADLANG_TEST_NVIM={} is not a file",
            p.display()
        );
        return Some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("nvim"))
        .find(|p| p.is_file())
}

/// A path as a `:set` value: spaces, commas and backslashes escaped.
fn set_value(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_str().expect("UTF-8 path").chars() {
        if matches!(c, ' ' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn neovim_diagnostics_inlay_hint_and_quick_fix() {
    let Some(nvim) = find_nvim() else {
        println!(
            "note: nvim is not on PATH, so the Neovim end-to-end test did not run \
             (install Neovim 0.7 or later, or set GRADLANG_TEST_NVIM)"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime = root.join("editors/nvim");
    let script = runtime.join("test/e2e.lua");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.grad");
    let mut cmd = Command::new(&nvim);
    cmd.args(["--headless", "-u", "NONE", "-i", "NONE", "--cmd"])
        .arg(format!("set rtp^={}", set_value(&runtime)))
        .arg("-c")
        .arg(format!("luafile {}", set_value(&script)))
        .current_dir(dir.path())
        .env("GRADLANG_BIN", assert_cmd::cargo::cargo_bin("gradlang"))
        .env("GRADLANG_E2E_FILE", &file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing of the user's Neovim (config, state, logs) is read or written.
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ] {
        cmd.env(var, dir.path().join(var));
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn nvim");
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = pipe(child.stdout.take().map(|p| Box::new(p) as _));
    let err = pipe(child.stderr.take().map(|p| Box::new(p) as _));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for nvim") {
            break Some(s);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let report = format!(
        "{} {}\n--- stdout\n{out}\n--- stderr\n{err}",
        nvim.display(),
        script.display()
    );
    let status = status.unwrap_or_else(|| panic!("nvim did not finish in {TIMEOUT:?}\n{report}"));
    assert!(
        status.success() && out.contains("e2e: ok"),
        "{status}\n{report}"
    );
    eprintln!("{} ({:.1?})", out.trim(), started.elapsed());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        "# A weight stored the other way round: h @ W needs W.T.\n\
         dim N = 4, D = 3, M = 2\n\
         input x: [N, D] = normal(0, 1)\n\
         param W: [M, D] = normal(0, 0.1)\n\
         h = tanh(x)\n\
         y = h @ W.T\n"
    );
}
