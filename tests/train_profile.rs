//! `gradlang train --profile` (where the loop's time goes, on stderr), and
//! the loop's parallel paths (optimizer chunks across params, dropout masks
//! of several chunks) repeating bit for bit for any thread count. No timing
//! is asserted: only which lines the report has.

use assert_cmd::Command;
use gradlang::data::{write_safetensors, ArrayRef};
use ndarray::{ArrayD, IxDyn};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn gradlang() -> Command {
    Command::cargo_bin("gradlang").unwrap()
}

/// A classifier with dropout: W1 spans three optimizer chunks of 16,384
/// elements, a batch's dropout mask two random-number chunks of 65,536.
const PROGRAM: &str = "\
dim N, D = 64, H = 600, C = 3
input x: [N, D]
input labels: [N] int
param W1: [D, H] = normal(0, 0.1)
param b1: [H] = zeros
param W2: [H, C] = normal(0, 0.05)
h = dropout(relu(x @ W1 + b1), 0.3)
logits = h @ W2
loss L = cross_entropy(logits, labels)
metric acc = accuracy(logits, labels)
train(L, over=N, optimizer=adamw(lr=1e-3), schedule=cosine(), epochs=2, batch_size=128)
";

/// A deterministic value in [-1, 1).
fn noise(i: usize) -> f32 {
    let z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    z as f32 / (1u64 << 23) as f32 - 1.0
}

fn setup(n: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("classifier.grad");
    std::fs::write(&program, PROGRAM).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[n, 64]), (0..n * 64).map(noise).collect()).unwrap();
    let labels =
        ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|i| (i % 3) as i64).collect()).unwrap();
    let data = dir.path().join("data.safetensors");
    write_safetensors(
        &data,
        &[
            ("x".to_string(), ArrayRef::F32(x.view())),
            ("labels".to_string(), ArrayRef::I64(labels.view())),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    (dir, program, data)
}

fn train(program: &Path, data: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    gradlang()
        .arg("train")
        .arg(program)
        .arg("--inputs")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--progress", "none"])
        .args(extra)
        .assert()
}

/// The report's phase names, in order.
const PHASES: [&str; 9] = [
    "graph build",
    "gather + dropout masks",
    "forward + backward",
    "  forward",
    "  backward",
    "optimizer + clipping",
    "validation",
    "other",
    "loop",
];

#[test]
fn profile_reports_every_phase_and_the_throughput() {
    let (dir, program, data) = setup(300);
    let out = dir.path().join("out");
    let run = train(
        &program,
        &data,
        &out,
        &["--profile", "--epochs", "1", "--threads", "2"],
    )
    .success();
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("profile: train "))
        .unwrap_or_else(|| panic!("no profile header in:\n{stderr}"));
    // 300 examples in batches of 128: 3 steps.
    assert!(
        lines[start].ends_with(", f32, 2 threads: 3 steps, 300 examples"),
        "{}",
        lines[start]
    );
    assert!(lines[start + 1].trim_start().starts_with("phase"));
    for (k, phase) in PHASES.iter().enumerate() {
        let line = lines[start + 2 + k];
        let rest = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_prefix(phase))
            .unwrap_or_else(|| panic!("line {k} is not `{phase}`: {line:?}"));
        // time, time per step, share
        let fields: Vec<&str> = rest.split_whitespace().collect();
        assert_eq!(fields.len(), 5, "{line:?}");
        assert!(
            fields[0].parse::<f64>().is_ok() && fields[1] == "ms",
            "{line:?}"
        );
        assert!(fields[4].ends_with('%'), "{line:?}");
    }
    let after = &lines[start + 2 + PHASES.len()..];
    assert!(after[0].trim_start().starts_with("steps/s "), "{after:?}");
    assert!(
        after[1].trim_start().starts_with("examples/s "),
        "{after:?}"
    );
    // The run itself is unchanged: the params are written.
    assert!(out.join("params.safetensors").exists());
}

#[test]
fn without_profile_there_is_no_report_and_json_stays_on_stdout() {
    let (dir, program, data) = setup(300);
    let out = dir.path().join("out");
    let run = train(&program, &data, &out, &["--epochs", "1"]).success();
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    assert!(!stderr.contains("profile:"), "{stderr}");
    // With --format json the records stay alone on stdout.
    let run = train(
        &program,
        &data,
        &out,
        &[
            "--epochs",
            "1",
            "--profile",
            "--format",
            "json",
            "--val-split",
            "0.2",
        ],
    )
    .success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    for line in stdout.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["val"]["loss"].is_number(), "{line}");
    }
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("\n  validation "), "{stderr}");
}

#[test]
fn chunked_updates_and_dropout_masks_are_bit_identical_for_any_thread_count() {
    let (dir, program, data) = setup(300);
    let mut files = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{threads}"));
        train(&program, &data, &out, &["--threads", threads]).success();
        files.push(std::fs::read(out.join("params.safetensors")).unwrap());
    }
    assert_eq!(files[0], files[1]);
    assert_eq!(files[0], files[2]);
}
