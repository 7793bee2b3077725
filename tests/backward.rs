//! `gradlang backward` and `gradlang graph` (SPEC section 12): the printed
//! program checks and computes the same values as the original; the printed
//! programs of the examples and the DOT graphs are snapshots; the SVG is
//! well-formed XML naming every binding; bad command lines exit 2.

use assert_cmd::Command;
use std::path::Path;

fn gradlang(args: &[&str]) -> (i32, String, String) {
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

/// Smaller dimensions for the full-size linear layer (its values are the same
/// formulas; running 4096x4096 products twice in f64 only costs time).
fn dims_for(file: &str) -> Vec<&'static str> {
    if file.ends_with("examples/linear.grad") {
        vec!["--dim", "D=48", "--dim", "M=40"]
    } else {
        vec![]
    }
}

/// Every binding's value, by name, under `run --dtype f64`.
fn values(file: &str, dims: &[&str]) -> Vec<(String, Vec<f64>)> {
    let mut args = vec!["run", file, "--dtype", "f64", "--format", "json"];
    args.extend_from_slice(dims);
    // The trained examples read the digits' test split.
    if file.contains("digits_") {
        args.extend(["--inputs", "examples/data/digits_test.npz"]);
    }
    let (code, stdout, stderr) = gradlang(&args);
    assert_eq!(code, 0, "{file}: {stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    json["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let data = v["data"]
                .as_array()
                .unwrap()
                .iter()
                // a mask's values are true/false
                .map(|x| {
                    x.as_f64()
                        .or(x.as_bool().map(f64::from))
                        .unwrap_or(f64::NAN)
                })
                .collect();
            (v["name"].as_str().unwrap().to_string(), data)
        })
        .collect()
}

fn round_trip(path: &Path) -> String {
    let file = path.to_string_lossy().to_string();
    let dims = dims_for(&file);
    let mut args = vec!["backward", file.as_str()];
    args.extend_from_slice(&dims);
    let (code, printed, stderr) = gradlang(&args);
    assert_eq!(code, 0, "{file}: {stderr}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(path.file_name().unwrap());
    std::fs::write(&out, &printed).unwrap();
    let out = out.to_string_lossy().to_string();
    let (code, _, stderr) = gradlang(&["check", &out]);
    assert_eq!(
        code, 0,
        "{file}: the printed program does not check:\n{stderr}\n{printed}"
    );
    let original = values(&file, &dims);
    let again = values(&out, &dims);
    for (name, a) in &original {
        let (_, b) = again
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{file}: `{name}` is missing from the printed program"));
        assert_eq!(a.len(), b.len(), "{file}: `{name}`");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let ok = (x - y).abs() <= 1e-12 + 1e-9 * x.abs().max(y.abs());
            assert!(ok, "{file}: `{name}`[{i}]: {x} vs {y}\n{printed}");
        }
    }
    printed
}

#[test]
fn every_example_round_trips_and_reads_like_the_notes() {
    insta::glob!("../examples", "*.grad", |path| {
        let printed = round_trip(path);
        insta::assert_snapshot!("backward", printed);
    });
}

#[test]
fn every_test_program_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "grad") {
            round_trip(&path);
            n += 1;
        }
    }
    assert!(n >= 6, "only {n} programs");
}

#[test]
fn the_linear_layer_prints_the_notes_formulas() {
    let (code, out, err) = gradlang(&["backward", "examples/linear.grad"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dL_dx = dL_dy @ W.T"), "{out}");
    assert!(out.contains("dL_dW = x.T @ dL_dy"), "{out}");
    assert!(out.contains("# : [D, M]"), "{out}");
}

#[test]
fn of_selects_bindings_and_unknown_names_are_misuse() {
    let (code, out, err) = gradlang(&["backward", "examples/linear.grad", "--of", "dW"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dW = dL_dW"), "{out}");
    assert!(out.contains("dx = grad(L, x)"), "{out}");
    let (code, _, err) = gradlang(&["backward", "examples/linear.grad", "--of", "dWW"]);
    assert_eq!(code, 2);
    assert!(err.contains("E0611") && err.contains("dW"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.svg").to_string_lossy().to_string();
    let (code, _, err) = gradlang(&["graph", "examples/mlp.grad", "--of", "nope", "-o", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("E0611"), "{err}");
    assert!(!Path::new(&out).exists());
}

#[test]
fn graph_needs_a_known_extension() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("graph").to_string_lossy().to_string();
    let (code, _, err) = gradlang(&["graph", "examples/mlp.grad", "-o", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(".svg or .dot"), "{err}");
}

#[test]
fn dot_snapshots() {
    insta::glob!("../examples", "*.grad", |path| {
        let file = path.to_string_lossy().to_string();
        let dir = tempfile::tempdir().unwrap();
        for (suffix, backward) in [("forward", false), ("backward", true)] {
            let out = dir.path().join("g.dot").to_string_lossy().to_string();
            let mut args = vec!["graph", file.as_str(), "-o", out.as_str()];
            if backward {
                args.push("--backward");
            }
            let (code, _, err) = gradlang(&args);
            assert_eq!(code, 0, "{file}: {err}");
            let dot = std::fs::read_to_string(&out).unwrap();
            insta::assert_snapshot!(format!("dot_{suffix}"), dot);
        }
    });
}

#[test]
fn svg_is_well_formed_and_names_every_binding() {
    insta::glob!("../examples", "*.grad", |path| {
        let file = path.to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for backward in [false, true] {
            let out = dir.path().join("g.svg").to_string_lossy().to_string();
            let mut args = vec!["graph", file.as_str(), "-o", out.as_str()];
            if backward {
                args.push("--backward");
            }
            let (code, _, err) = gradlang(&args);
            assert_eq!(code, 0, "{file}: {err}");
            let svg = std::fs::read_to_string(&out).unwrap();
            let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(doc.root_element().tag_name().name(), "svg");
            let texts: String = doc
                .descendants()
                .filter(|n| n.is_text())
                .map(|n| n.text().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            let (_, checked) = gradlang::check::check_source(&text);
            for stmt in &checked.stmts {
                if let gradlang::check::typed::TStmt::Binding { tensor, .. } = stmt {
                    let name = &checked.tensor(*tensor).name;
                    assert!(
                        texts.contains(&format!("{name} :")),
                        "{file}: `{name}` not in the SVG"
                    );
                }
            }
        }
    });
}
