//! The reporting layer of `gradlang train`/`eval` through its public API
//! (`gradlang::train::report`): the JSON record, the log files, the SVG chart,
//! and what really reaches stderr (in a child process, so the test sees the
//! real file descriptor).

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use gradlang::train::report::{
    check_plot_path, eval_human, eval_json, write_plot, EpochRecord, Log, Progress, ProgressMode,
    ReportErrorKind,
};
use serde_json::Value;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn values(list: &[(&str, f64)]) -> Vec<(String, f64)> {
    list.iter().map(|(n, x)| (n.to_string(), *x)).collect()
}

/// Epoch `e` of a run with a loss and an accuracy, with or without
/// validation values.
fn record(e: usize, val: bool) -> EpochRecord {
    let x = e as f64;
    EpochRecord {
        epoch: e,
        step: (e as u64).saturating_mul(100),
        lr: 0.05,
        train: values(&[("loss", 2.0 / x), ("acc", 1.0 - 0.5 / x)]),
        val: val.then(|| values(&[("loss", 2.5 / x), ("acc", 0.9 - 0.5 / x)])),
        time_s: 1.5,
    }
}

#[test]
fn record_json_has_the_spec_shape() {
    let mut r = record(3, true);
    r.step = 1407;
    r.train[1].1 = f64::NAN;
    let v = r.to_json();
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["epoch", "step", "lr", "train", "val", "time_s"]);
    assert_eq!(v["epoch"], 3);
    assert_eq!(v["step"], 1407);
    assert_eq!(v["train"]["loss"], 2.0 / 3.0);
    assert_eq!(v["train"]["acc"], "nan");
    let train_keys: Vec<&String> = v["train"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(train_keys, ["loss", "acc"]);
    assert_eq!(v["val"]["acc"], 0.9 - 0.5 / 3.0);

    r.val = None;
    r.lr = f64::INFINITY;
    r.time_s = f64::NEG_INFINITY;
    let v = r.to_json();
    assert_eq!(v["val"], Value::Null);
    assert_eq!(v["lr"], "inf");
    assert_eq!(v["time_s"], "-inf");
}

#[test]
fn jsonl_log_appends_across_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.jsonl");
    let cols = names(&["loss", "acc"]);
    {
        let mut log = Log::open(&path, &cols, true).expect("open");
        log.append(&record(1, true)).expect("append");
        log.append(&record(2, true)).expect("append");
    }
    let mut log = Log::open(&path, &cols, true).expect("reopen");
    log.append(&record(3, false)).expect("append");
    let text = fs::read_to_string(&path).expect("read");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], record(1, true).to_json());
    assert_eq!(lines[2]["epoch"], 3);
    assert_eq!(lines[2]["val"], Value::Null);
    assert!(text.ends_with('\n'));
}

#[test]
fn csv_log_writes_its_header_once_and_aligned_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.csv");
    let cols = names(&["loss", "acc"]);
    for e in 1..=2 {
        let mut log = Log::open(&path, &cols, true).expect("open");
        log.append(&record(e, true)).expect("append");
    }
    // an epoch without validation values leaves its val cells empty
    Log::open(&path, &cols, true)
        .and_then(|mut log| log.append(&record(3, false)))
        .expect("append");
    let text = fs::read_to_string(&path).expect("read");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "epoch",
            "step",
            "lr",
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            "time_s"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows.iter().all(|r| r.len() == 8), "{text}");
    assert_eq!(
        rows[1],
        ["1", "100", "0.05", "2.0", "0.5", "2.5", "0.4", "1.5"]
    );
    assert_eq!(rows[2][3].parse::<f64>(), Ok(1.0));
    assert_eq!(rows[2][6].parse::<f64>(), Ok(0.9 - 0.25));
    assert_eq!(rows[3][5..7], ["", ""]);
}

#[test]
fn csv_log_without_validation_has_no_val_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("RUN.CSV");
    let mut log = Log::open(&path, &names(&["loss"]), false).expect("open");
    log.append(&record(1, true)).expect("append");
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        "epoch,step,lr,train_loss,time_s\n1,100,0.05,2.0,1.5\n"
    );
}

#[test]
fn csv_log_with_other_columns_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.csv");
    Log::open(&path, &names(&["loss", "acc"]), true)
        .and_then(|mut log| log.append(&record(1, true)))
        .expect("first run");
    let before = fs::read(&path).expect("read");
    for (cols, has_val) in [
        (names(&["loss", "acc"]), false),
        (names(&["loss"]), true),
        (names(&["loss", "acc", "f1"]), true),
        (names(&["acc", "loss"]), true),
    ] {
        let err = Log::open(&path, &cols, has_val).expect_err("a different header");
        assert_eq!(err.kind(), ReportErrorKind::Refused);
        assert_eq!(err.path(), path.as_path());
        assert!(
            err.message()
                .contains("`epoch,step,lr,train_loss,train_acc,val_loss,val_acc,time_s`"),
            "{err}"
        );
    }
    assert_eq!(fs::read(&path).expect("read"), before);
}

#[test]
fn log_extension_is_decided_up_front() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["run.txt", "run.json", "run", "run.csv.bak"] {
        let path = dir.path().join(name);
        let err = Log::open(&path, &names(&["loss"]), false).expect_err(name);
        assert_eq!(err.kind(), ReportErrorKind::Refused, "{name}");
        assert!(err.to_string().contains(".jsonl"), "{err}");
        assert!(!path.exists(), "{name} was created");
    }
    let missing = dir.path().join("no/such/dir/run.jsonl");
    let err = Log::open(&missing, &names(&["loss"]), false).expect_err("no directory");
    assert_eq!(err.kind(), ReportErrorKind::Io);
}

#[test]
fn a_log_cut_mid_line_gets_its_next_record_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.jsonl");
    fs::write(&path, "{\"epoch\":1,\"st").expect("write");
    Log::open(&path, &names(&["loss"]), false)
        .and_then(|mut log| log.append(&record(2, false)))
        .expect("append");
    let text = fs::read_to_string(&path).expect("read");
    let last = text.lines().last().expect("a line");
    assert_eq!(text.lines().count(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(last).ok(),
        Some(record(2, false).to_json())
    );
}

/// The `<polyline>` point counts and the `<text>` contents of an SVG.
fn svg_parts(path: &Path) -> (Vec<usize>, Vec<String>) {
    let text = fs::read_to_string(path).expect("read the chart");
    let doc = roxmltree::Document::parse(&text).expect("the chart is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let polylines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            n.attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .collect();
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    (polylines, texts)
}

#[test]
fn chart_has_a_line_per_series_and_its_axis_labels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chart.svg");
    let records: Vec<EpochRecord> = (1..=5).map(|e| record(e, true)).collect();
    write_plot(&path, &records[..3]).expect("plot");
    let (lines, _) = svg_parts(&path);
    assert_eq!(lines.iter().filter(|&&n| n == 3).count(), 4);

    // rewritten after each epoch: the same file now has five points per line
    write_plot(&path, &records).expect("plot");
    let (lines, texts) = svg_parts(&path);
    // loss and acc panels, train and val in each
    assert_eq!(lines.iter().filter(|&&n| n == 5).count(), 4, "{lines:?}");
    let count = |s: &str| texts.iter().filter(|t| t.as_str() == s).count();
    assert_eq!(count("epoch"), 2, "{texts:?}");
    // each panel's title and its y axis name the quantity
    assert_eq!(count("loss"), 2, "{texts:?}");
    assert_eq!(count("acc"), 2, "{texts:?}");
    assert_eq!(count("train"), 2, "{texts:?}");
    assert_eq!(count("val"), 2, "{texts:?}");
    // written atomically: nothing but the chart is left in the directory
    let entries: Vec<_> = fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(entries.len(), 1);

    // without validation data: one line per panel and no "val" legend
    write_plot(
        &path,
        &(1..=5).map(|e| record(e, false)).collect::<Vec<_>>(),
    )
    .expect("plot");
    let (lines, texts) = svg_parts(&path);
    assert_eq!(lines.iter().filter(|&&n| n == 5).count(), 2, "{lines:?}");
    assert!(!texts.iter().any(|t| t == "val"), "{texts:?}");
}

#[test]
fn chart_survives_any_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chart.svg");
    let odd = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -0.0,
        0.0,
        1e-200,
        1e200,
    ];
    let mut records = Vec::new();
    for (i, &x) in odd.iter().enumerate() {
        records.push(EpochRecord {
            epoch: i + 1,
            step: i as u64,
            lr: x,
            train: values(&[("loss", x), ("flat", 1.0)]),
            val: Some(values(&[("loss", -x), ("only_val", x)])),
            time_s: x,
        });
        write_plot(&path, &records).expect("plot");
        let (_, texts) = svg_parts(&path);
        assert!(texts.iter().any(|t| t == "only_val"));
    }
    for records in [
        vec![],
        vec![record(usize::MAX, true)],
        vec![record(0, false)],
        vec![record(0, true), record(usize::MAX, true)],
        vec![record(usize::MAX, true), record(usize::MAX - 1, true)],
    ] {
        write_plot(&path, &records).expect("plot");
        svg_parts(&path);
    }
}

#[test]
fn chart_path_is_checked_up_front() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(check_plot_path(&dir.path().join("chart.svg")).is_ok());
    assert!(check_plot_path(&dir.path().join("CHART.SVG")).is_ok());
    let err = check_plot_path(&dir.path().join("chart.png")).expect_err("png");
    assert_eq!(err.kind(), ReportErrorKind::Refused);
    let err = check_plot_path(&dir.path().join("nope/chart.svg")).expect_err("no dir");
    assert!(err.message().contains("no directory"), "{err}");
    // and write_plot itself reports, not panics, when it cannot write
    let err =
        write_plot(&dir.path().join("nope/chart.svg"), &[record(1, true)]).expect_err("no dir");
    assert_eq!(err.kind(), ReportErrorKind::Io);
}

#[test]
fn eval_outputs() {
    let v = values(&[("L", 0.071), ("acc", 0.983)]);
    assert_eq!(
        eval_json(360, &v).to_string(),
        r#"{"examples":360,"L":0.071,"acc":0.983}"#
    );
    assert_eq!(
        eval_human(360, &v),
        "examples  360\nL         0.07100\nacc       0.9830\n"
    );
}

/// Runs the progress of a small run (`child_progress`, below) in a child
/// process with `mode`, its stderr a pipe; returns (success, stderr).
/// With `close`, the pipe is closed before the child writes anything.
fn progress_in_child(mode: &str, close: bool) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["child_progress", "--exact", "--test-threads=1"])
        .env("GRADLANG_REPORT_CHILD", mode)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        if !close {
            pipe.read_to_string(&mut err).expect("read stderr");
        }
    }
    let status = child.wait().expect("wait");
    (status.success(), err)
}

/// Not a test on its own: the child of [`progress_in_child`].
#[test]
fn child_progress() {
    let mode = match std::env::var("GRADLANG_REPORT_CHILD").as_deref() {
        Ok("none") => ProgressMode::None,
        Ok("epoch") => ProgressMode::Epoch,
        Ok("bar") => ProgressMode::Bar,
        Ok("auto") => ProgressMode::Auto,
        _ => return,
    };
    // Let a closing parent close the pipe first.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut p = Progress::new(mode, 2, 4, 1);
    for e in 1..=2 {
        for s in 1..=4 {
            p.step(e, s, 0.5, 8);
        }
        p.epoch_end(&record(e, false));
        p.message("checkpoint written");
    }
    p.finish();
}

/// The training loop may move its reporters to another thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Progress>();
    send::<Log>();
};

#[test]
fn progress_mode_names_on_the_command_line() {
    use clap::ValueEnum;
    let names: Vec<String> = ProgressMode::value_variants()
        .iter()
        .filter_map(|m| m.to_possible_value().map(|v| v.get_name().to_string()))
        .collect();
    assert_eq!(names, ["auto", "bar", "epoch", "none"]);
    assert_eq!(ProgressMode::default(), ProgressMode::Auto);
}

#[test]
fn progress_on_real_stderr() {
    assert_eq!(progress_in_child("none", false), (true, String::new()));
    let line1 = "epoch 1/2  step 100  loss 2.000    acc 0.5000    1.5 s\n";
    let line2 = "epoch 2/2  step 200  loss 1.000    acc 0.7500    1.5 s\n";
    let want = format!("{line1}checkpoint written\n{line2}checkpoint written\n");
    // stderr is a pipe: every mode but none prints epoch lines
    for mode in ["epoch", "auto", "bar"] {
        assert_eq!(
            progress_in_child(mode, false),
            (true, want.clone()),
            "{mode}"
        );
    }
    // a closed stderr is no reason to fail
    for mode in ["epoch", "bar"] {
        assert!(progress_in_child(mode, true).0, "{mode}");
    }
}
