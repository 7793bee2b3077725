//! `gradlang run` on every example: the asserts (the notes' formulas) pass, and
//! the printed values are snapshots (human and JSON).

use assert_cmd::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The trained examples read the digits' test split and print the loss and
/// accuracy of their initial params (every binding would be 360 rows).
fn data_args(file: &str) -> Vec<&'static str> {
    if file.starts_with("examples/digits_") {
        vec![
            "--inputs",
            "examples/data/digits_test.npz",
            "--print",
            "L,acc",
        ]
    } else {
        vec![]
    }
}

#[test]
fn every_example_runs_and_its_asserts_pass() {
    insta::glob!("../examples", "*.grad", |path| {
        let file = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        let mut args = vec!["run", file.as_str()];
        args.extend(data_args(&file));
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{file}: {stderr}");
        insta::assert_snapshot!("human", stdout);
        // The big linear layer's values are millions of numbers: its JSON
        // snapshot prints the loss only.
        let big = path.file_stem().unwrap() == "linear";
        let mut args = vec!["run", &file, "--format", "json"];
        args.extend(data_args(&file));
        if big {
            args.extend(["--print", "L"]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{file}: {stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        insta::assert_json_snapshot!("json", json);
    });
}

#[test]
fn every_example_passes_gradcheck() {
    insta::glob!("../examples", "*.grad", |path| {
        let file = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        let mut args = vec!["gradcheck", file.as_str()];
        args.extend(data_args(&file).into_iter().take(2));
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{file}: {stdout}{stderr}");
        assert!(
            stdout.contains(" 0 failed") || stdout.contains("no grad, vjp or jvp"),
            "{stdout}"
        );
    });
}

/// Programs that cross-check derivatives inside themselves with `assert close`
/// (nested derivatives, shared layers, layer order): they must run clean and
/// pass gradcheck, in f32 and in f64.
#[test]
fn cross_checking_programs_pass_their_asserts_and_gradcheck() {
    insta::glob!("programs/*.grad", |path| {
        let file = path.display().to_string();
        for dtype in ["f32", "f64"] {
            let (code, _, stderr) = run(&["run", &file, "--dtype", dtype]);
            assert_eq!(code, 0, "{file} ({dtype}): {stderr}");
        }
        let (code, stdout, stderr) = run(&["gradcheck", &file]);
        assert_eq!(code, 0, "{file}: {stdout}{stderr}");
    });
}
