//! Issue 9, "nothing panics, nothing hangs, nothing is silently wrong": one
//! test per finding, each making its small input itself. No test may see exit
//! status 101 (panic) or 134 (abort).

use gradlang::check::check_source;
use gradlang::data::{read_npz, write_npy_atomic, DataErrorKind};
use gradlang::diagnostics::render_human;
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gradlang() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gradlang"))
}

/// A temporary directory with `p.grad` holding `program`.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(program: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.grad"), program).unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = gradlang();
        c.current_dir(self.dir.path()).args(args);
        c
    }

    /// Exit status, stdout, stderr (the directory replaced by `TMP`).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).stdin(Stdio::null()).output().unwrap();
        let tmp = self.dir.path().display().to_string();
        (
            status(&out),
            String::from_utf8_lossy(&out.stdout).replace(&tmp, "TMP"),
            String::from_utf8_lossy(&out.stderr).replace(&tmp, "TMP"),
        )
    }

    fn npy(&self, name: &str, shape: &[usize], data: Vec<f64>) {
        let a = ArrayD::from_shape_vec(IxDyn(shape), data).unwrap();
        write_npy_atomic(&self.path(name), a.view()).unwrap();
    }
}

fn status(out: &Output) -> i32 {
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code != 101 && code != 134 && code != -1,
        "crashed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

// ---------------------------------------------------------------- panics

#[test]
fn diagnostics_past_column_65535_render_without_a_snippet() {
    let src = format!("y = {}nope\n", " ".repeat(70_000));
    let c = Case::new(&src);
    let (code, _, stderr) = c.run(&["check", "p.grad"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr);
    // A short line of the same file still gets its snippet.
    let src = format!("y = {}nope\nz = nope2\n", " ".repeat(70_000));
    let (_, checked) = check_source(&src);
    let text = render_human(&checked.diagnostics, "p.grad", &src, false);
    assert!(text.contains("--> p.grad:1:70005"), "{text}");
    assert!(text.contains("╭─[p.grad:2:5]"), "{text}");
}

/// Runs `args` with stdout going to `/dev/full`.
fn to_dev_full(c: &Case, args: &[&str]) -> (i32, String) {
    let full = File::options().write(true).open("/dev/full").unwrap();
    let out = c.cmd(args).stdout(full).output().unwrap();
    (status(&out), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn a_full_disk_on_stdout_is_reported() {
    let c = Case::new("dim N = 2\ninput x: [N] = ones\ny = x * 2\ng = grad(sum(y), x)\n");
    for args in [
        vec!["check", "p.grad", "--format", "json"],
        vec!["run", "p.grad"],
        vec!["run", "p.grad", "--format", "json"],
        vec!["gradcheck", "p.grad"],
        vec!["--help"],
    ] {
        let (code, stderr) = to_dev_full(&c, &args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("E0609") && stderr.contains("No space left on device"),
            "{args:?}: {stderr}"
        );
    }
    let (_, stderr) = to_dev_full(&c, &["run", "p.grad"]);
    insta::assert_snapshot!(stderr);
}

/// Runs `args` with stdout (or stderr) a pipe whose reading end is closed.
fn into_closed_pipe(c: &Case, args: &[&str], on_stderr: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = c.cmd(args);
    if on_stderr {
        cmd.stderr(writer).stdout(Stdio::null());
        let child = cmd.spawn().unwrap();
        child.wait_with_output().unwrap()
    } else {
        cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap()
    }
}

#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let c = Case::new("dim N = 2\ninput x: [N] = ones\ny = x * 2\ng = grad(sum(y), x)\n");
    for args in [
        vec!["check", "p.grad", "--format", "json"],
        vec!["run", "p.grad"],
        vec!["gradcheck", "p.grad"],
        vec!["--help"],
    ] {
        let out = into_closed_pipe(&c, &args, false);
        let code = status(&out);
        assert_eq!(code, 1, "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {:?}", out.stderr);
    }
    // Errors on a closed stderr: the exit status still says what happened.
    let bad = Case::new("y = nope\n");
    let out = into_closed_pipe(&bad, &["check", "p.grad"], true);
    assert_eq!(status(&out), 1);
    let out = into_closed_pipe(&bad, &["run", "p.grad", "--frobnicate"], true);
    assert_eq!(status(&out), 2);
}

// ---------------------------------------------------------------- time

/// Parse + check + human rendering of `lines` lines that are each a syntax
/// error (a dangling operator, then trailing blanks, as in the issue).
#[test]
fn thread_counts_are_capped() {
    let c = Case::new("y = 2 * 3\n");
    let (code, _, stderr) = c.run(&["run", "p.grad", "--threads", "16000"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("more than the maximum of 1024"), "{stderr}");
    let (code, _, _) = c.run(&["run", "p.grad", "--threads", "1024"]);
    assert_eq!(code, 0);
}

#[test]
fn devices_are_never_read_to_the_end() {
    let c = Case::new("dim N = 2\ninput x: [N]\ny = x * 2\n");
    let t0 = Instant::now();
    let (code, _, stderr) = c.run(&["check", "/dev/zero"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("E0614") && stderr.contains("64 MiB"),
        "{stderr}"
    );
    let (code, _, stderr) = c.run(&["run", "p.grad", "--input", "x=/dev/zero"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("E0602") && stderr.contains("magic"),
        "{stderr}"
    );
    let (code, _, stderr) = c.run(&["run", "p.grad", "--inputs", "/dev/zero"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("not a regular file") && !stderr.contains("empty"),
        "{stderr}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
    insta::assert_snapshot!(stderr);
}

// ---------------------------------------------------------------- memory

/// Peak resident memory of the children waited for so far, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as u64 * 1024
}

/// A deflated `.npz` holding one float32 array of `n` zeros named `name`.
fn zeros_npz(path: &Path, name: &str, n: usize) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n},), }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut w = zip::ZipWriter::new(File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file(format!("{name}.npy"), opts).unwrap();
    w.write_all(b"\x93NUMPY\x01\x00").unwrap();
    w.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    w.write_all(header.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = n * 4;
    while left > 0 {
        let k = left.min(chunk.len());
        w.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    w.finish().unwrap();
}

#[test]
fn a_large_npz_member_is_held_once() {
    // 256 MiB of float32 zeros, a few hundred KiB deflated.
    let n = 64 << 20;
    let c = Case::new("dim N\ninput x: [N]\ny = sum(x)\n");
    zeros_npz(&c.path("big.npz"), "x", n);
    assert!(std::fs::metadata(c.path("big.npz")).unwrap().len() < 2 << 20);
    let (code, stdout, stderr) = c.run(&["run", "p.grad", "--inputs", "big.npz"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "y: [] f32 = 0.0\n");
    let peak = children_peak_rss();
    let value = (n * 4) as u64;
    // Before: the raw member, the decoded array, a copy and a conversion (4x).
    assert!(
        peak < value + value / 2,
        "peak RSS {} MiB for a {} MiB value",
        peak >> 20,
        value >> 20
    );
}

/// The magic, version, length and header of a version-1 `.npy` file, the
/// header padded to a 64-byte boundary as NumPy writes it.
fn npy_preamble(dict: &str) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

#[test]
fn running_out_of_memory_is_e0610_not_an_abort() {
    // A sparse 4 GiB .npy file; the process may map at most 1 GiB.
    let c = Case::new("dim N\ninput x: [N]\ny = sum(x)\n");
    let n: u64 = 1 << 30;
    let preamble = npy_preamble(&format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({n},), }}"
    ));
    let mut f = File::create(c.path("big.npy")).unwrap();
    f.write_all(&preamble).unwrap();
    f.set_len(preamble.len() as u64 + n * 4).unwrap();
    drop(f);
    let exe = env!("CARGO_BIN_EXE_gradlang");
    let out = Command::new("sh")
        .current_dir(c.dir.path())
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576 && exec '{exe}' run p.grad --threads 1 --input x=big.npy"
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 1, "{stderr}");
    assert!(
        stderr.contains("E0610") && stderr.contains("not enough memory"),
        "{stderr}"
    );
}

/// From a pipe the data's size is unknown until it ends: a header declaring
/// 2.8 GB followed by a few bytes is truncated data, read without reserving
/// the declared size first (the `data` fuzz target's finding).
#[test]
fn a_huge_array_declared_on_a_pipe_is_truncated_data_not_an_allocation() {
    let c = Case::new("dim A, B, C\ninput x: [A, B, C]\ny = sum(x)\n");
    let mut f = File::create(c.path("huge.npy")).unwrap();
    f.write_all(&npy_preamble(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 44444443, 4), }",
    ))
    .unwrap();
    f.write_all(&[0u8; 200]).unwrap();
    drop(f);
    let exe = env!("CARGO_BIN_EXE_gradlang");
    let out = Command::new("sh")
        .current_dir(c.dir.path())
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576 && cat huge.npy | '{exe}' run p.grad --threads 1 --input x=/dev/stdin"
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 1, "{stderr}");
    assert!(
        stderr.contains("E0602")
            && stderr.contains("truncated data")
            && stderr.contains("200 bytes"),
        "{stderr}"
    );
}

#[test]
fn an_initializer_too_large_for_memory_is_e0610_not_an_abort() {
    // 1.6 GB of float32, under the 16 GiB per-value cap, over a 1 GiB limit.
    let c = Case::new("dim N = 400000000\ninput x: [N] = zeros\ny = sum(x)\n");
    let exe = env!("CARGO_BIN_EXE_gradlang");
    let out = Command::new("sh")
        .current_dir(c.dir.path())
        .arg("-c")
        .arg(format!(
            "ulimit -v 1048576 && exec '{exe}' run p.grad --threads 1"
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 1, "{stderr}");
    assert!(
        stderr.contains("E0610") && stderr.contains("not enough memory"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- accepted although wrong

#[test]
fn a_zero_length_axis_from_a_file_is_refused() {
    let c = Case::new("dim N\ninput x: [N]\ny = mean(x)\n");
    c.npy("x.npy", &[0], vec![]);
    let (code, stdout, stderr) = c.run(&["run", "p.grad", "--input", "x=x.npy"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.is_empty());
    insta::assert_snapshot!(stderr);
}

/// An archive with two members both named `x.npy` (the zip writer refuses
/// that, so the second name is patched in the bytes).
fn npz_with_duplicate_names(path: &Path) {
    let mut bytes = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, value) in [("x", 1.0f64), ("q", 2.0)] {
            let a = ArrayD::from_shape_vec(IxDyn(&[2]), vec![value; 2]).unwrap();
            w.start_file(format!("{name}.npy"), opts).unwrap();
            w.write_all(&gradlang::data::encode_npy(a.view().into()))
                .unwrap();
        }
        w.finish().unwrap();
    }
    let patched: Vec<u8> = {
        let text = bytes;
        let mut out = text.clone();
        for i in 0..text.len().saturating_sub(5) {
            if &text[i..i + 5] == b"q.npy" {
                out[i] = b'x';
            }
        }
        out
    };
    std::fs::write(path, patched).unwrap();
}

#[test]
fn duplicate_npz_member_names_are_refused() {
    let c = Case::new("dim N\ninput x: [N]\ny = sum(x)\n");
    npz_with_duplicate_names(&c.path("dup.npz"));
    let e = read_npz(&c.path("dup.npz")).unwrap_err();
    assert_eq!(e.kind(), DataErrorKind::Format);
    assert_eq!(e.member(), Some("x.npy"));
    let (code, _, stderr) = c.run(&["run", "p.grad", "--inputs", "dup.npz"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_dimension_given_twice_with_two_values_is_misuse() {
    let c = Case::new("dim N = 4\ny = N * 2\n");
    let (code, _, stderr) = c.run(&["run", "p.grad", "--dim", "N=2", "--dim", "N=3"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("N=2") && stderr.contains("N=3"), "{stderr}");
    insta::assert_snapshot!(stderr);
    // The same value twice is harmless.
    let (code, stdout, _) = c.run(&["run", "p.grad", "--dim", "N=2", "--dim", "N=2"]);
    assert_eq!((code, stdout.as_str()), (0, "y: [] f32 = 4.0\n"));
}

#[test]
fn gradcheck_never_passes_a_nan() {
    // sqrt at 0: the derivative is infinite, the finite difference NaN.
    let c = Case::new("dim N = 2\ninput x: [N] = ones\nL = sum(sqrt(x - 1))\ng = grad(L, x)\n");
    let (code, stdout, _) = c.run(&["gradcheck", "p.grad"]);
    assert_eq!(code, 1, "{stdout}");
    insta::assert_snapshot!(stdout);
}

// ---------------------------------------------------------------- --out

#[test]
fn out_writes_the_whole_set_or_nothing() {
    let c = Case::new("a = 1 + 1\nb = 2 + 2\n");
    let out = c.path("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("a.npy"), b"previous run").unwrap();
    // `b.npy` cannot be written (a directory is in the way).
    std::fs::create_dir(out.join("b.npy")).unwrap();
    let (code, _, stderr) = c.run(&["run", "p.grad", "--out", "out"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("E0609"), "{stderr}");
    assert_eq!(std::fs::read(out.join("a.npy")).unwrap(), b"previous run");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.npy", "b.npy"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn out_removes_what_killed_runs_left() {
    let c = Case::new("a = 1 + 1\n");
    let out = c.path("out");
    std::fs::create_dir(&out).unwrap();
    // Process ids above the kernel's maximum are never alive.
    std::fs::write(out.join(".a.npy.tmp-999999999-0"), b"half").unwrap();
    std::fs::create_dir(out.join(".gradlang-out.tmp-999999999-0")).unwrap();
    std::fs::write(out.join(".gradlang-out.tmp-999999999-0/a.npy"), b"half").unwrap();
    // A temporary of a live process (this test) is left alone.
    let live = format!(".a.npy.tmp-{}-0", std::process::id());
    std::fs::write(out.join(&live), b"busy").unwrap();
    let (code, _, stderr) = c.run(&["run", "p.grad", "--out", "out"]);
    assert_eq!(code, 0, "{stderr}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [live, "a.npy".to_string()]);
}

// ---------------------------------------------------------------- messages

#[test]
fn a_dangling_operator_before_a_keyword_is_named_as_such() {
    let c = Case::new("dim N = 3\ninput x: [N] = ones\ny = x +\nloss L = sum(y)\n");
    let (code, _, stderr) = c.run(&["check", "p.grad"]);
    assert_eq!(code, 1);
    assert!(!stderr.contains("is a keyword"), "{stderr}");
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_dimension_default_too_large_says_so() {
    let c = Case::new("dim N = 99999999999999999999\n");
    let (code, _, stderr) = c.run(&["check", "p.grad"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("too large"), "{stderr}");
    insta::assert_snapshot!(stderr);
}

// ---------------------------------------------------------------- --format json

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

#[test]
fn with_format_json_every_stage_reports_in_the_diagnostics_schema() {
    let c = Case::new("dim N\ninput x: [N]\ny = x * 2\nassert close(y, x)\n");
    c.npy("x.npy", &[2], vec![1.0, 2.0]);
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--dim", "Q=3"], 2, "E0611"),
        (&["--dim", "N=2", "--dim", "N=3"], 2, "E0604"),
        (&["--input", "x=missing.npy"], 1, "E0602"),
        (&["--dim", "N=2"], 1, "E0601"),
        (&["--input", "x=x.npy"], 1, "E0607"),
        (&["--input", "x=x.npy", "--out", "p.grad/sub"], 1, "E0609"),
    ];
    for (extra, want, code) in cases {
        let mut args = vec!["run", "p.grad", "--format", "json"];
        args.extend_from_slice(extra);
        let (status, stdout, stderr) = c.run(&args);
        assert_eq!(status, want, "{args:?}: {stderr}");
        let v = json_of(&stdout);
        let d = &v["diagnostics"][0];
        assert_eq!(d["code"], code, "{args:?}: {v}");
        assert_eq!(d["file"], "p.grad");
    }
    // A name on the command line has no place in the source.
    let (_, stdout, _) = c.run(&[
        "run", "p.grad", "--format", "json", "--dim", "N=2", "--print", "yy",
    ]);
    let v = json_of(&stdout);
    assert_eq!(v["diagnostics"][0]["span"], Value::Null, "{v}");
    assert_eq!(v["diagnostics"][0]["help"], "did you mean `y`?");
    // A source file that cannot be read, and one that does not check.
    let (status, stdout, _) = c.run(&["run", "nope.grad", "--format", "json"]);
    assert_eq!(status, 2);
    assert_eq!(json_of(&stdout)["diagnostics"][0]["code"], "E0614");
    let bad = Case::new("y = nope\n");
    let (status, stdout, _) = bad.run(&["run", "p.grad", "--format", "json"]);
    assert_eq!(status, 1);
    assert_eq!(json_of(&stdout)["diagnostics"][0]["code"], "E0201");
}

/// Values that each fit the per-value limit but together need far more memory
/// than any machine has (twenty 14 GB products alive at once) are refused
/// before the run allocates anything: E0610, never an abort.
#[test]
fn a_run_whose_values_cannot_fit_in_memory_is_refused_before_it_starts() {
    let mut src = String::from("dim N = 60000\ninput x: [N] = ones\n");
    let mut terms = Vec::new();
    for k in 1..=20 {
        src.push_str(&format!(
            "y{k} = reshape(x, [N, 1]) * reshape(x * {k}, [1, N])\n"
        ));
        terms.push(format!("sum(y{k})"));
    }
    src.push_str(&format!("s = {}\n", terms.join(" + ")));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.grad");
    std::fs::write(&file, src).unwrap();
    let out = gradlang()
        .arg("run")
        .arg(&file)
        .args(["--print", "s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status(&out), 1, "{stderr}");
    assert!(stderr.contains("E0610"), "{stderr}");
    assert!(
        stderr.contains("of memory for its values at once"),
        "{stderr}"
    );
}
