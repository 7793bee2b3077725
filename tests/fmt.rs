//! `gradlang fmt`: idempotent, keeps every comment, never changes what a
//! program means (the same types, the same diagnostics), refuses files with
//! syntax errors, and `--check` reports without writing.

use assert_cmd::Command;
use gradlang::fmt::format_source;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn grad_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["examples", "tests/check", "benches/workloads"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "grad") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find('#').map(|at| l[at..].trim_end().to_string()))
        .collect()
}

/// What a program means, as far as the checker can tell: every binding's and
/// declaration's type, and every diagnostic's code and message.
fn meaning(text: &str) -> Vec<String> {
    let (_, checked) = gradlang::check::check_source(text);
    let mut out: Vec<String> = checked
        .decls
        .iter()
        .map(|d| format!("{}: {}", d.name, checked.display(&d.ty)))
        .chain(
            checked
                .bindings
                .iter()
                .map(|b| format!("{}: {}", b.name, checked.display(&b.ty))),
        )
        .collect();
    out.extend(
        checked
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message)),
    );
    out
}

fn assert_formats_well(text: &str, what: &str) {
    let Ok(once) = format_source(text) else {
        return; // syntax errors: refused (tested below)
    };
    let twice = format_source(&once).unwrap_or_else(|e| panic!("{what}: reformat failed: {e:?}"));
    assert_eq!(once, twice, "{what}: not idempotent");
    let mut before = comments(text);
    let mut after = comments(&once);
    before.sort();
    after.sort();
    assert_eq!(before, after, "{what}: comments changed");
    assert_eq!(
        meaning(text),
        meaning(&once),
        "{what}: meaning changed\n{once}"
    );
}

#[test]
fn every_repository_program_formats_idempotently_with_the_same_meaning() {
    let files = grad_files();
    assert!(files.len() > 40);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_formats_well(&text, &path.display().to_string());
    }
}

#[test]
fn the_examples_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["examples", "benches/workloads"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "grad") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(
                    format_source(&text).unwrap(),
                    text,
                    "{}: run `gradlang fmt` on it",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_messy_program_in_canonical_layout() {
    let messy = "# a model\ndim N=2,D = 3   # sizes\n\n\n\ninput x:[N,D]=normal(0,1)\nparam W :[D, D] = normal(0 , 0.1);  y=tanh( x@W )# hidden\nloss L=sum(y*y)/N\nlayer Dense[I,O](x:[B,I])->[B,O]{\nparam W:[I,O]=zeros # weights\n  # the product\n      return x@W\n}\nd = grad(L,\n  W) # : [D, D]\n   # trailing note\n";
    let formatted = format_source(messy).unwrap();
    insta::assert_snapshot!(formatted);
    assert_formats_well(messy, "messy");
}

#[test]
fn syntax_errors_are_not_formatted_and_check_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.grad");
    std::fs::write(&broken, "y = x +\n").unwrap();
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .args(["fmt", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not formatted"));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "y = x +\n");

    let messy = dir.path().join("messy.grad");
    std::fs::write(&messy, "dim N=2\n").unwrap();
    let check = |path: &Path| {
        Command::cargo_bin("gradlang")
            .unwrap()
            .args(["fmt", "--check", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = check(&messy);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("would be reformatted"));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "dim N=2\n");
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .args(["fmt", messy.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), "dim N = 2\n");
    assert_eq!(check(&messy).status.code(), Some(0));
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x".to_string()),
        Just("W".to_string()),
        Just("2".to_string()),
        Just("1e-3".to_string()),
        Just("N".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    atom().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("+"), Just("-"), Just("*"), Just("/"), Just("**")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|a| format!("( {a} )")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("tanh({a})")),
            inner.clone().prop_map(|a| format!("sum({a} ,axis = -1)")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Generated programs with odd spacing, blank lines and comments.
    #[test]
    fn generated_programs_format_idempotently(
        exprs in prop::collection::vec(expr(), 1..6),
        comment_every in 1usize..4,
        blank_every in 1usize..4,
    ) {
        let mut text = String::from("dim N=4,D =3\ninput x:[N, D]=normal(0,1)\nparam W :[N, D] = zeros\n");
        for (i, e) in exprs.iter().enumerate() {
            if i % blank_every == 0 {
                text.push('\n');
            }
            text.push_str(&format!("y{i} ={e}"));
            if i % comment_every == 0 {
                text.push_str(&format!("   # note {i}"));
            }
            text.push('\n');
        }
        assert_formats_well(&text, &text);
    }
}
