//! Every check-time diagnostic code has a program in `tests/check/` that
//! produces it; its human rendering and JSON are snapshots to review.

use gradlang::check::check_source;
use gradlang::diagnostics::{diagnostics_to_json, render_human, ALL_CODES};
use std::path::Path;

fn check_file(path: &Path) -> (String, serde_json::Value, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("test program is UTF-8");
    let name = format!(
        "tests/check/{}",
        path.file_name().unwrap().to_string_lossy()
    );
    let (_, checked) = check_source(&text);
    let human = render_human(&checked.diagnostics, &name, &text, false);
    let json = diagnostics_to_json(&checked.diagnostics, &name, &text);
    let codes = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect();
    (human, json, codes)
}

#[test]
fn each_program_reports_its_code() {
    insta::glob!("check/*.grad", |path| {
        let (human, json, codes) = check_file(path);
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let expected = &stem[..5];
        assert!(
            codes.iter().any(|c| c == expected),
            "{stem}: expected {expected} among {codes:?}"
        );
        insta::assert_snapshot!("human", human);
        insta::assert_json_snapshot!("json", json);
    });
}

#[test]
fn every_check_time_code_has_a_program() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for (code, title) in ALL_CODES {
        let code = code.as_str();
        // Run-time codes (E06xx, E071x) are covered by the CLI tests.
        if code.starts_with("E06") || code.starts_with("E071") {
            continue;
        }
        assert!(
            files.iter().any(|f| f.starts_with(code)),
            "no tests/check/{code}_*.grad for `{title}`"
        );
    }
}

#[test]
fn independent_errors_are_all_reported() {
    let src = "dim N = 2, D = 3, M = 4\n\
               input x: [N, D] = zeros\n\
               param W: [M, D] = zeros\n\
               a = x @ W\n\
               b = sofmax(x)\n\
               c = x + zeros([M])\n\
               d = a + 1\n";
    let (_, checked) = check_source(src);
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    // `d` uses the poisoned `a`: no cascade.
    assert_eq!(codes, ["E0302", "E0201", "E0301"]);
}

#[test]
fn dimensions_compare_by_name_not_value() {
    let (_, checked) = check_source(
        "dim D = 4096, M = 4096\ninput a: [D] = zeros\ninput b: [M] = zeros\nc = a + b\n",
    );
    assert_eq!(checked.diagnostics.len(), 1);
    assert_eq!(checked.diagnostics[0].code.as_str(), "E0301");
}

#[test]
fn symbolic_reshape_and_dimension_arithmetic() {
    let src = "dim N, H, W, T\n\
               input img: [N, H, W] = zeros\n\
               input seq: [T + 1] = zeros\n\
               a = reshape(img, [N, W * H])\n\
               b = reshape(a, [H, N * W])\n\
               c = reshape(seq, [1 + T, 1])\n";
    let (_, checked) = check_source(src);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let shapes: Vec<String> = checked
        .bindings
        .iter()
        .map(|b| checked.display(&b.ty))
        .collect();
    assert_eq!(shapes, ["[N, H * W]", "[H, N * W]", "[T + 1, 1]"]);
}

#[test]
fn an_error_inside_a_layer_body_is_reported_once() {
    let src = "dim N = 2, D = 3\n\
               layer Bad[I, O](x: [B, I]) -> [B, O] {\n\
                 param W: [O, I] = zeros\n\
                 return x @ W\n\
               }\n\
               a = Bad[D, D]\n\
               b = Bad[D, 4]\n\
               input x: [N, D] = zeros\n\
               y1 = a(x)\n\
               y2 = b(x)\n\
               y3 = a(y1)\n";
    let (_, checked) = check_source(src);
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["E0302"], "{:?}", checked.diagnostics);
}

#[test]
fn generic_dimensions_are_inferred_per_call() {
    let src = "dim N = 2, M = 5, D = 3\n\
               layer Dense[I, O](x: [B, I]) -> [B, O] {\n\
                 param W: [I, O] = zeros\n\
                 return x @ W\n\
               }\n\
               f = Dense[D, D]\n\
               input a: [N, D] = zeros\n\
               input b: [M, D] = zeros\n\
               ya = f(a)\n\
               yb = f(b)\n\
               bad = f(a.T)\n";
    let (_, checked) = check_source(src);
    let shapes: Vec<String> = checked
        .bindings
        .iter()
        .map(|b| format!("{}: {}", b.name, checked.display(&b.ty)))
        .collect();
    assert_eq!(shapes, ["ya: [N, D]", "yb: [M, D]"]);
    let d = &checked.diagnostics[0];
    assert_eq!(d.code.as_str(), "E0504");
    assert!(
        d.labels.iter().any(|l| l
            .message
            .contains("signature: Dense[I, O](x: [B, I]) -> [B, O]")),
        "{d:?}"
    );
    assert!(d.message.contains("[D, N]"), "{}", d.message);
}

/// A line ending with an operator before a `loss` line is one error, at the
/// operator: the keyword it swallowed is not reported again as a name.
#[test]
fn a_dangling_operator_before_a_keyword_is_one_error() {
    let (_, checked) =
        check_source("dim N = 2\ninput x: [N] = zeros\ny = x +\nloss L = sum(y)\nz = L * 2\n");
    let codes: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    assert_eq!(codes, ["E0101"], "{:?}", checked.diagnostics);
    assert!(checked.diagnostics[0]
        .message
        .contains("`+` at the end of a line"));
}
