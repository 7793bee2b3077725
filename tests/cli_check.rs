//! `gradlang check` from the outside: exit codes, the JSON schema, bad files.

use assert_cmd::Command;
use serde_json::Value;

fn gradlang() -> Command {
    Command::cargo_bin("gradlang").unwrap()
}

/// `gradlang check --format json PATH`: the exit code and the parsed stdout.
fn check_json(path: &std::path::Path) -> (Option<i32>, Value) {
    let out = gradlang()
        .args(["check", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON object"),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn clean_program_exits_zero_and_prints_nothing() {
    let out = gradlang()
        .args(["check", "examples/linear.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn warnings_alone_exit_zero() {
    let out = gradlang()
        .args(["check", "tests/check/W0003_large_jacobian.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("W0003") && err.contains("256 GiB"), "{err}");
}

#[test]
fn errors_exit_one_with_rendered_report_on_stderr() {
    let out = gradlang()
        .args(["check", "tests/check/E0302_matmul_mismatch.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0302"), "{err}");
    assert!(err.contains("did you mean `W.T`?"), "{err}");
    assert!(err.contains("E0302_matmul_mismatch.grad:6:7"), "{err}");
    assert!(err.contains("1 error, 0 warnings"), "{err}");
}

#[test]
fn json_follows_the_schema() {
    let out = gradlang()
        .args([
            "check",
            "--format",
            "json",
            "tests/check/E0302_matmul_mismatch.grad",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let list = v["diagnostics"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let d = &list[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E0302");
    assert!(d["message"].as_str().unwrap().contains("[N, D]"));
    assert_eq!(d["file"], "tests/check/E0302_matmul_mismatch.grad");
    let span = &d["span"];
    let text = std::fs::read_to_string("tests/check/E0302_matmul_mismatch.grad").unwrap();
    let (start, end) = (
        span["start"].as_u64().unwrap() as usize,
        span["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "@");
    assert_eq!(
        (span["line"].as_u64(), span["column"].as_u64()),
        (Some(6), Some(7))
    );
    for label in d["labels"].as_array().unwrap() {
        assert!(label["message"].is_string());
        for key in ["start", "end", "line", "column"] {
            assert!(label["span"][key].is_u64(), "{label}");
        }
    }
    assert!(d["help"].as_str().unwrap().contains("W.T"));
}

#[test]
fn json_of_a_clean_file_is_an_empty_list() {
    let out = gradlang()
        .args(["check", "--format=json", "examples/mlp.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"diagnostics": []}));
}

#[test]
fn columns_count_characters_and_offsets_count_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "u.grad",
        "dim N = 2 # ∂L/∂x\ninput x: [N] = zeros\ny = x + ünknown\n".as_bytes(),
    );
    let (_, v) = check_json(&path);
    let span = &v["diagnostics"][0]["span"];
    let text = std::fs::read_to_string(&path).unwrap();
    let start = span["start"].as_u64().unwrap() as usize;
    assert!(
        text[start..].starts_with('ü') || text[start..].starts_with('+'),
        "{v}"
    );
    assert_eq!(span["line"], 3);
}

#[test]
fn missing_file_directory_and_bad_flags_are_clear_errors() {
    let out = gradlang()
        .args(["check", "no/such/file.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read `no/such/file.grad`: no such file"),
        "{err}"
    );

    let out = gradlang().args(["check", "examples"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));

    let out = gradlang()
        .args(["check", "--format", "xml", "examples/mlp.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = gradlang()
        .args(["check", "--frobnicate", "examples/mlp.grad"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = gradlang().args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn non_utf8_source_is_a_diagnostic_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "bin.grad",
        b"dim N = 2\ninput x: [N] = zeros\n\xff\xfe y = x\n",
    );
    let (code, v) = check_json(&path);
    assert_eq!(code, Some(1));
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0101");
    assert!(d["message"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(d["span"]["start"], 31);
}

#[test]
fn every_independent_error_in_a_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "many.grad",
        b"dim N = 2, D = 3, M = 4\ninput x: [N, D] = zeros\nparam W: [M, D] = zeros\ny = x @ W\nz = x +\nq = sum(x, axis=5)\n",
    );
    let (_, v) = check_json(&path);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["E0302", "E0101", "E0304"]);
}
