//! `gradlang train` and `gradlang eval` from the outside (SPEC section 11):
//! learning, exact repetition for any thread count, resuming (also after an
//! interrupt mid-epoch), checkpoints, logs, charts and the errors.

use assert_cmd::Command;
use gradlang::data::{read_safetensors, write_safetensors, ArrayData, ArrayRef};
use ndarray::{ArrayD, IxDyn};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn gradlang() -> Command {
    Command::cargo_bin("gradlang").unwrap()
}

/// Linear regression: y = x·w + 0.5 plus a little noise, 200 examples.
const REGRESSION: &str = "\
dim N, D = 3
input x: [N, D]
input y: [N]
param w: [D] = zeros
param b: [] = zeros
pred = x @ w + b
loss L = mean((pred - y) ** 2)
metric mae = mean(abs(pred - y))
train(L, over=N, optimizer=sgd(lr=0.1, momentum=0.9), schedule=cosine(), epochs=20, batch_size=16)
";

const TRUE_W: [f64; 3] = [1.5, -2.0, 0.25];

/// A deterministic pseudo-random number in [-1, 1).
fn noise(i: usize) -> f64 {
    let mut z = (i as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(12345);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn regression_data(dir: &Path, n: usize, offset: usize) -> PathBuf {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let row: Vec<f64> = (0..3).map(|k| noise(offset + 3 * i + k)).collect();
        let t: f64 = row.iter().zip(TRUE_W).map(|(a, w)| a * w).sum::<f64>() + 0.5;
        y.push((t + 0.01 * noise(1_000_000 + offset + i)) as f32);
        x.extend(row.iter().map(|v| *v as f32));
    }
    let x = ArrayD::from_shape_vec(IxDyn(&[n, 3]), x).unwrap();
    let y = ArrayD::from_shape_vec(IxDyn(&[n]), y).unwrap();
    let path = dir.join(format!("data-{offset}.safetensors"));
    write_safetensors(
        &path,
        &[
            ("x".to_string(), ArrayRef::F32(x.view())),
            ("y".to_string(), ArrayRef::F32(y.view())),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    path
}

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("regression.grad");
    std::fs::write(&program, REGRESSION).unwrap();
    let data = regression_data(dir.path(), 200, 0);
    (dir, program, data)
}

fn params(path: &Path) -> BTreeMap<String, Vec<f64>> {
    read_safetensors(path)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(n, a)| {
            let v = match a {
                ArrayData::F32(a) => a.iter().map(|x| f64::from(*x)).collect(),
                ArrayData::F64(a) => a.iter().copied().collect(),
                other => panic!("{n}: {other:?}"),
            };
            (n, v)
        })
        .collect()
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

#[test]
fn sgd_learns_a_linear_model() {
    let (dir, program, data) = setup();
    let out = dir.path().join("out");
    train(&program, &data, &out, &[]).success();
    let p = params(&out.join("params.safetensors"));
    for (got, want) in p["w"].iter().zip(TRUE_W) {
        assert!((got - want).abs() < 0.02, "w = {:?}", p["w"]);
    }
    assert!((p["b"][0] - 0.5).abs() < 0.02, "b = {:?}", p["b"]);
    // The history has one record per epoch, the loss falling.
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 20);
    assert_eq!(records[19]["step"], 20 * 13);
    let first = records[0]["train"]["loss"].as_f64().unwrap();
    let last = records[19]["train"]["loss"].as_f64().unwrap();
    assert!(last < first / 100.0, "{first} -> {last}");
    assert!(records[19]["train"]["mae"].as_f64().unwrap() < 0.02);
}

#[test]
fn results_are_bit_identical_for_any_thread_count() {
    let (dir, program, data) = setup();
    let mut files = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{threads}"));
        train(
            &program,
            &data,
            &out,
            &["--threads", threads, "--epochs", "3"],
        )
        .success();
        files.push(std::fs::read(out.join("params.safetensors")).unwrap());
    }
    assert_eq!(files[0], files[1]);
    assert_eq!(files[0], files[2]);
}

#[test]
fn a_run_resumed_from_an_epoch_checkpoint_ends_with_the_same_params() {
    let (dir, program, data) = setup();
    // Six epochs with a checkpoint after each; then from the third again.
    let ckpt = dir.path().join("ckpt");
    let whole = dir.path().join("whole");
    let ck = ckpt.to_str().unwrap();
    train(
        &program,
        &data,
        &whole,
        &["--epochs", "6", "--checkpoint-dir", ck],
    )
    .success();
    for e in 1..=6 {
        assert!(ckpt.join(format!("epoch-{e:04}.safetensors")).exists());
    }
    let resumed = dir.path().join("resumed");
    let third = ckpt.join("epoch-0003.safetensors");
    train(
        &program,
        &data,
        &resumed,
        &["--epochs", "6", "--resume", third.to_str().unwrap()],
    )
    .success();
    assert_eq!(
        std::fs::read(whole.join("params.safetensors")).unwrap(),
        std::fs::read(resumed.join("params.safetensors")).unwrap()
    );
    // The history continues: six records, equal to the uninterrupted run's.
    let lines = |p: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p.join("history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (a, b) = (lines(&whole), lines(&resumed));
    assert_eq!(b.len(), 6);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["train"], y["train"]);
        assert_eq!(x["step"], y["step"]);
    }
}

/// A wider model on more data: slow enough to interrupt mid-run.
const WIDE: &str = "\
dim N, D = 3, H = 256
input x: [N, D]
input y: [N]
param W1: [D, H] = normal(0, 0.5)
param W2: [H] = normal(0, 0.05)
param b: [] = zeros
pred = tanh(x @ W1) @ W2 + b
loss L = mean((pred - y) ** 2)
train(L, over=N, optimizer=adam(lr=1e-3), schedule=cosine(), clip_norm=1.0, epochs=30, batch_size=8)
";

#[test]
fn a_run_interrupted_mid_epoch_resumes_to_the_same_params() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("wide.grad");
    std::fs::write(&program, WIDE).unwrap();
    let data = regression_data(dir.path(), 2000, 0);
    let whole = dir.path().join("whole");
    train(&program, &data, &whole, &[]).success();
    // The same run, sent Ctrl-C once its first epoch is reported.
    let ckpt = dir.path().join("ckpt");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gradlang"))
        .arg("train")
        .arg(&program)
        .arg("--inputs")
        .arg(&data)
        .args(["--progress", "none", "--format", "json", "--checkpoint-dir"])
        .arg(&ckpt)
        .arg("--out")
        .arg(dir.path().join("first"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"epoch\":1"), "{line}");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted at step"), "{stderr}");
    let resumed = dir.path().join("resumed");
    train(
        &program,
        &data,
        &resumed,
        &["--checkpoint-dir", ckpt.to_str().unwrap(), "--resume"],
    )
    .success();
    assert_eq!(
        std::fs::read(whole.join("params.safetensors")).unwrap(),
        std::fs::read(resumed.join("params.safetensors")).unwrap()
    );
}

#[test]
fn a_checkpoint_of_another_program_is_refused_naming_the_difference() {
    let (dir, program, data) = setup();
    let ckpt = dir.path().join("ckpt");
    let ck = ckpt.to_str().unwrap();
    train(
        &program,
        &data,
        &dir.path().join("o"),
        &["--epochs", "1", "--checkpoint-dir", ck],
    )
    .success();
    let other = dir.path().join("other.grad");
    std::fs::write(
        &other,
        REGRESSION.replace("param b: [] = zeros", "param b: [1] = zeros"),
    )
    .unwrap();
    let assert = train(
        &other,
        &data,
        &dir.path().join("o2"),
        &["--checkpoint-dir", ck, "--resume"],
    )
    .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("E0711"), "{stderr}");
    assert!(
        stderr.contains("`b` has shape [] in the checkpoint but [1] in the program"),
        "{stderr}"
    );
}

#[test]
fn a_non_finite_loss_stops_with_the_step_and_epoch() {
    let (dir, program, data) = setup();
    let assert = train(&program, &data, &dir.path().join("o"), &["--lr", "1e6"]).code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("E0712"), "{stderr}");
    assert!(stderr.contains("at step "), "{stderr}");
    assert!(stderr.contains("(epoch 1"), "{stderr}");
}

#[test]
fn json_records_logs_charts_and_eval() {
    let (dir, program, data) = setup();
    let out = dir.path().join("out");
    let log = dir.path().join("log.csv");
    let plot = dir.path().join("chart.svg");
    let val = regression_data(dir.path(), 50, 7777);
    let assert = train(
        &program,
        &data,
        &out,
        &[
            "--epochs",
            "4",
            "--format",
            "json",
            "--val",
            val.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ],
    )
    .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    let keys: Vec<&str> = records[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["epoch", "step", "lr", "train", "val", "time_s"]);
    assert!(records[3]["val"]["loss"].as_f64().unwrap() < 0.05);
    let csv = std::fs::read_to_string(&log).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));
    // eval on the validation file gives the loss of the last record.
    let eval = gradlang()
        .args(["eval"])
        .arg(&program)
        .arg("--params")
        .arg(out.join("params.safetensors"))
        .arg("--inputs")
        .arg(&val)
        .args(["--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&eval.get_output().stdout).unwrap();
    assert_eq!(v["examples"], 50);
    let loss = v["L"].as_f64().unwrap();
    let recorded = records[3]["val"]["loss"].as_f64().unwrap();
    assert!(
        (loss - recorded).abs() <= 1e-6 * recorded.max(1e-12),
        "{loss} vs {recorded}"
    );
    assert!(v["mae"].as_f64().is_some());
}

#[test]
fn training_needs_a_train_statement_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.grad");
    std::fs::write(
        &program,
        REGRESSION.lines().take(8).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let data = regression_data(dir.path(), 20, 0);
    let a = gradlang()
        .arg("train")
        .arg(&program)
        .arg("--inputs")
        .arg(&data)
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("E0713"));
    let (dir, program, _) = setup();
    let a = gradlang()
        .arg("train")
        .arg(&program)
        .current_dir(dir.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("E0710") && stderr.contains("no data for `x`, `y`"),
        "{stderr}"
    );
}

#[test]
fn frozen_params_stay_and_decay_applies_only_where_listed() {
    let (dir, _, data) = setup();
    let program = dir.path().join("frozen.grad");
    // `b` is frozen; only `w` trains, with AdamW's decay.
    std::fs::write(
        &program,
        REGRESSION.replace(
            "train(L, over=N, optimizer=sgd(lr=0.1, momentum=0.9), schedule=cosine(), epochs=20, batch_size=16)",
            "train(L, over=N, optimizer=adamw(lr=0.05, weight_decay=0.5), params=[w], decay=[w], epochs=3)",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    train(&program, &data, &out, &[]).success();
    let p = params(&out.join("params.safetensors"));
    assert_eq!(p["b"], vec![0.0], "a frozen param never changes");
    assert_ne!(p["w"], vec![0.0; 3]);
    // With decay on `w` the weights shrink compared with no decay at all.
    std::fs::write(
        &program,
        REGRESSION.replace(
            "train(L, over=N, optimizer=sgd(lr=0.1, momentum=0.9), schedule=cosine(), epochs=20, batch_size=16)",
            "train(L, over=N, optimizer=adamw(lr=0.05, weight_decay=0.5), params=[w], decay=[], epochs=3)",
        ),
    )
    .unwrap();
    let out2 = dir.path().join("out2");
    train(&program, &data, &out2, &[]).success();
    let q = params(&out2.join("params.safetensors"));
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    assert!(
        norm(&p["w"]) < norm(&q["w"]),
        "{:?} vs {:?}",
        p["w"],
        q["w"]
    );
}

#[test]
fn early_stopping_keeps_the_best_params_and_val_split_is_seeded() {
    let (dir, program, data) = setup();
    let out = dir.path().join("out");
    let a = train(
        &program,
        &data,
        &out,
        &[
            "--val-split",
            "0.25",
            "--early-stop",
            "val_loss,patience=1,min-delta=1",
            "--format",
            "json",
        ],
    )
    .success();
    // No epoch improves by 1 on the first: the run stops after epoch 2 and
    // keeps epoch 1's params.
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("keeping the params of epoch 1"), "{stderr}");
    // Validation: 50 of the 200 examples, 150 trained on (10 steps of 16).
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 10);
    // An unknown metric is misuse, naming the metrics there are.
    let a = train(&program, &data, &out, &["--early-stop", "val_acc"]).code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("validation metrics need validation data"),
        "{stderr}"
    );
}

#[test]
fn checkpoints_are_kept_as_asked_and_read_as_params() {
    let (dir, program, data) = setup();
    let ckpt = dir.path().join("ckpt");
    let out = dir.path().join("out");
    train(
        &program,
        &data,
        &out,
        &[
            "--epochs",
            "5",
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
            "--every",
            "2",
            "--keep",
            "1",
        ],
    )
    .success();
    let mut files: Vec<String> = std::fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    // Epochs 2 and 4 by --every, 5 as the last; only the newest kept.
    assert_eq!(files, ["epoch-0005.safetensors", "last.safetensors"]);
    let ck = read_safetensors(&ckpt.join("last.safetensors")).unwrap();
    let names: Vec<&str> = ck.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["w", "b", "optimizer.b.w", "optimizer.b.b"]);
    assert_eq!(ck.metadata["epoch"], "5");
    assert_eq!(ck.metadata["step"], "65");
    // The final params file runs as --params.
    gradlang()
        .arg("run")
        .arg(&program)
        .arg("--params")
        .arg(out.join("params.safetensors"))
        .arg("--inputs")
        .arg(&data)
        .args(["--print", "L"])
        .assert()
        .success();
}

/// The README's promise: the digits examples, as their `train` statements
/// set them, reach 97 % (perceptron) and 98 % (convolutional network) on
/// the test split, which training never sees.
#[test]
fn the_digits_examples_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, least) in [("digits_mlp", 0.97), ("digits_cnn", 0.98)] {
        let dir = tempfile::tempdir().unwrap();
        let program = root.join(format!("examples/{name}.grad"));
        let out = dir.path().join("out");
        train(
            &program,
            &root.join("examples/data/digits_train.npz"),
            &out,
            &[],
        )
        .success();
        let eval = gradlang()
            .arg("eval")
            .arg(&program)
            .arg("--params")
            .arg(out.join("params.safetensors"))
            .arg("--inputs")
            .arg(root.join("examples/data/digits_test.npz"))
            .args(["--format", "json"])
            .assert()
            .success();
        let v: serde_json::Value = serde_json::from_slice(&eval.get_output().stdout).unwrap();
        assert_eq!(v["examples"], 360);
        let acc = v["acc"].as_f64().unwrap();
        assert!(acc >= least, "{name}: test accuracy {acc} < {least}");
    }
}

/// Every training run-time code as a person reads it (run in the data's
/// directory, so the snapshots show relative paths).
#[test]
fn run_time_training_diagnostics() {
    let (dir, program, data) = setup();
    let run = |args: &[&str]| -> String {
        let out = gradlang()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let (program, data) = (
        program.file_name().unwrap().to_str().unwrap().to_string(),
        data.file_name().unwrap().to_str().unwrap().to_string(),
    );
    // E0710: no data for the data inputs.
    insta::assert_snapshot!(
        "e0710_no_data",
        run(&["train", &program, "--progress", "none"])
    );
    // E0712: the loss overflows at once.
    insta::assert_snapshot!(
        "e0712_non_finite_loss",
        run(&[
            "train",
            &program,
            "--inputs",
            &data,
            "--lr",
            "1e6",
            "--progress",
            "none"
        ])
    );
    // E0714: a flag that cannot be used.
    insta::assert_snapshot!(
        "e0714_bad_flag",
        run(&["train", &program, "--inputs", &data, "--val-split", "1.5"])
    );
    // E0713: no train statement.
    std::fs::write(
        dir.path().join("untrained.grad"),
        REGRESSION.lines().take(8).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    insta::assert_snapshot!(
        "e0713_no_train_statement",
        run(&["train", "untrained.grad", "--inputs", &data])
    );
    // E0711: a checkpoint of another program.
    run(&[
        "train",
        &program,
        "--inputs",
        &data,
        "--epochs",
        "1",
        "--progress",
        "none",
        "--checkpoint-dir",
        "ckpt",
        "--out",
        "o",
    ]);
    std::fs::write(
        dir.path().join("other.grad"),
        REGRESSION
            .replace("param w: [D] = zeros", "param w: [D, 1] = zeros")
            .replace("pred = x @ w + b", "pred = reshape(x @ w, [N]) + b"),
    )
    .unwrap();
    insta::assert_snapshot!(
        "e0711_other_program",
        run(&[
            "train",
            "other.grad",
            "--inputs",
            &data,
            "--checkpoint-dir",
            "ckpt",
            "--resume"
        ])
    );
}

/// A checkpoint whose metadata was damaged (here the running sums of the
/// epoch in progress) is refused with E0711, never a panic.
#[test]
fn a_damaged_checkpoint_is_refused() {
    let (dir, program, data) = setup();
    let ckpt = dir.path().join("ckpt");
    let ck = ckpt.to_str().unwrap();
    train(
        &program,
        &data,
        &dir.path().join("o"),
        &["--epochs", "1", "--checkpoint-dir", ck],
    )
    .success();
    let path = ckpt.join("last.safetensors");
    let mut file = read_safetensors(&path).unwrap();
    file.metadata.insert("epoch_sums".into(), "[]".into());
    let tensors: Vec<(String, ArrayRef<'_>)> = file
        .tensors
        .iter()
        .map(|(n, a)| (n.clone(), a.view()))
        .collect();
    write_safetensors(&path, &tensors, &file.metadata).unwrap();
    let a = train(
        &program,
        &data,
        &dir.path().join("o2"),
        &["--checkpoint-dir", ck, "--resume"],
    )
    .code(1);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("E0711") && stderr.contains("`epoch_sums` metadata is damaged"),
        "{stderr}"
    );
}
