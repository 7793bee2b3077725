//! Derived dimensions and dimension floor division (SPEC section 3) from the
//! outside: `dim Ho = (H + 2 - 3) / 2 + 1` is equal to the output size the
//! convolution rule computes, shows by name in types and values, is computed
//! at run time (never set: E0616), and binding names what it cannot solve.

use assert_cmd::Command;
use gradlang::check::check_source;

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn with_program(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.grad"), text).unwrap();
    dir
}

const PROGRAM: &str = "\
dim N = 2, C = 3, O = 4
dim Ho = (H + 2 - 3) / 2 + 1, Wo = (W - 1) / 2 + 1  # before H and W: visible throughout
dim H = 9, W = 8
dim Hp = (Ho - 2) / 2 + 1  # a 2x2 pool of Ho, from another derived dimension
dim Hq = (H + 1) / 4       # the same number written directly
input x: [N, H, W, C] = normal(0, 1)
param w: [3, 3, C, O] = normal(0, sqrt(2 / (9 * C)))
param g: [Ho] = normal(1, 1 / Ho)  # a derived dimension in an initializer
input t: [N, Ho, Wo, O] = normal(0, 1)
input u: [N, Hq, (W + 1) / 4, O] = normal(0, 1)
y = conv2d(x, w, stride=2, padding=1)
p = max_pool2d(y, 2)
v = p * u
z = y[:, :Ho / 2]
s = sum(y) / (Ho * Wo)  # a derived dimension as a number
loss L = sum((y - t) * (y - t) * reshape(g, [Ho, 1, 1])) + sum(v * v) + s * s + sum(z)
";

#[test]
fn a_derived_dimension_equals_the_convolution_s_output_size() {
    let (_, checked) = check_source(PROGRAM);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let ty = |name: &str| {
        let b = checked.bindings.iter().find(|b| b.name == name).unwrap();
        checked.display(&b.ty)
    };
    // types show the names, not the formulas
    assert_eq!(ty("y"), "[N, Ho, Wo, O]");
    // Hp and Hq are one number (nested floor divisions merge): the first
    // declared names it; the pooled width has no name and shows its formula.
    assert_eq!(ty("p"), "[N, Hp, (W + 1) / 4, O]");
    assert_eq!(ty("v"), "[N, Hp, (W + 1) / 4, O]");
    assert_eq!(ty("z"), "[N, Hp, Wo, O]");
}

#[test]
fn derived_dimensions_are_computed_and_shapes_agree_with_the_run() {
    let dir = with_program(PROGRAM);
    let (code, out, err) = run(
        dir.path(),
        &["run", "p.grad", "--dtype", "f64", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dims = &v["dims"];
    // (9 + 2 - 3) / 2 + 1 = 5, (8 - 1) / 2 + 1 = 4, (5 - 2) / 2 + 1 = 2
    for (name, want) in [("H", 9), ("Ho", 5), ("Wo", 4), ("Hp", 2), ("Hq", 2)] {
        assert_eq!(dims[name], want, "{name}: {dims}");
    }
    let (_, checked) = check_source(PROGRAM);
    for value in v["values"].as_array().unwrap() {
        let name = value["name"].as_str().unwrap();
        let b = checked.bindings.iter().find(|b| b.name == name).unwrap();
        let want: Vec<i64> =
            b.ty.shape
                .iter()
                .map(|p| p.eval(&|d| dims[checked.dims.name(d)].as_i64()).unwrap() as i64)
                .collect();
        let got: Vec<i64> = value["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    // The human header shows each derived dimension with its value.
    let (code, out, err) = run(dir.path(), &["run", "p.grad", "--print", "y,p"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("y: [N=2, Ho=5, Wo=4, O=4] f32 ="), "{out}");
    assert!(
        out.contains("p: [N=2, Hp=2, (W + 1) / 4=2, O=4] f32 ="),
        "{out}"
    );
    // They follow the dimensions they are computed from.
    let (code, out, err) = run(
        dir.path(),
        &[
            "run", "p.grad", "--dim", "H=13", "--print", "y", "--format", "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dims"]["Ho"], 7);
    assert_eq!(v["values"][0]["shape"], serde_json::json!([2, 7, 4, 4]));
}

#[test]
fn derivatives_through_derived_shapes_match_finite_differences() {
    let dir = with_program(PROGRAM);
    let (code, out, err) = run(dir.path(), &["gradcheck", "p.grad"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn setting_a_derived_dimension_is_misuse_e0616() {
    let dir = with_program(PROGRAM);
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--dim", "Ho=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("E0616"), "{err}");
    assert!(err.contains("`Ho` is a derived dimension"), "{err}");
    assert!(err.contains("dim Ho = (H + 1) / 2"), "{err}");
    assert!(err.contains("--dim H=.."), "{err}");
    insta::assert_snapshot!("e0616_a_derived_dimension_set_by_dim", err);
    let (code, out, _) = run(
        dir.path(),
        &["run", "p.grad", "--dim", "Hp=1", "--format", "json"],
    );
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diagnostics"][0]["code"], "E0616");
    // the span is the declaration
    assert_eq!(v["diagnostics"][0]["span"]["line"], 4);
}

#[test]
fn a_derived_dimension_below_one_names_its_formula_and_values() {
    let dir = with_program("dim H\ndim Hm = H - 3\ninput x: [Hm] = zeros\n");
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--dim", "H=2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0613"), "{err}");
    assert!(
        err.contains("the derived dimension `Hm` = H - 3 is -1 with H=2"),
        "{err}"
    );
    // a window that does not fit the bound sizes is the same error, not an
    // engine failure
    let dir = with_program(PROGRAM);
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--dim", "H=2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0613") && !err.contains("E0699"), "{err}");
    assert!(err.contains("is 0 with H=2"), "{err}");
}

#[test]
fn definitions_that_do_not_define_are_errors() {
    let (_, checked) = check_source(
        "dim H\n\
         dim A = A + 1\n\
         dim B = C * 2, C = B - 1\n\
         dim D = B + H\n\
         dim Z = H - H\n\
         dim Q = H / (H - H)\n\
         dim E = H + 1\n\
         input x: [E, D] = zeros\n",
    );
    let messages: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    assert!(
        messages
            .contains(&"E0313 the derived dimension `A` is defined in terms of itself".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(
            &"E0313 derived dimensions defined in terms of each other: `B` -> `C` -> `B`"
                .to_string()
        ),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"E0313 `Z` would be 0, but a dimension is at least 1".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"E0313 a dimension expression divides by zero".to_string()),
        "{messages:?}"
    );
    // `D` depends on the cycle: poisoned, not reported again; `E` is fine
    assert_eq!(messages.len(), 4, "{messages:?}");
}

#[test]
fn the_examples_dimension_cannot_be_derived() {
    let (_, checked) =
        check_source("dim M, N = M * 2\ninput x: [N]\nloss L = sum(x)\ntrain(L, over=N)\n");
    let e = checked.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(e.code.as_str(), "E0702");
    assert!(e.message.contains("`N` is derived"), "{}", e.message);
}

#[test]
fn shapes_divide_and_index_bounds_refuse_a_zero_divisor() {
    let dir = with_program(
        "dim N = 6\ninput x: [N, N / 4] = ones\ny = x[:N / 2]\nk = sum(y) / (N / 4)\n",
    );
    let (code, out, err) = run(dir.path(), &["run", "p.grad", "--dim", "N=9"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("y: [N / 2=4, N / 4=2] f32 ="), "{out}");
    // in an expression a dimension is a number and `/` divides exactly: 8 / 2.25
    assert!(out.contains("k: [] f32 = 3.5555556"), "{out}");
    let (_, checked) = check_source("dim N = 4\ninput x: [N] = ones\ny = x[:N / 0]\n");
    let e = checked.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(e.code.as_str(), "E0313");
    assert_eq!(e.message, "a dimension expression divides by zero");
}

#[test]
fn binding_names_the_dimensions_it_cannot_solve() {
    let dir = with_program(
        "dim N, H, W\ninput x: [N, H * W] = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]]\ny = x * 2\n",
    );
    let (code, _, err) = run(dir.path(), &["run", "p.grad"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0605"), "{err}");
    assert!(
        err.contains("the literal of `x` has 6 along axis 1, declared `H * W`, which does not determine `H` and `W`"),
        "{err}"
    );
    assert!(err.contains("--dim H=.."), "{err}");
    // one of them given, the other is solved
    let (code, out, err) = run(dir.path(), &["run", "p.grad", "--dim", "H=2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[N=2, H * W=6]"), "{out}");
    // a dimension with a default counts as known there
    let dir = with_program("dim N, H = 3, W\ninput x: [N, H * W] = [[1, 2, 3, 4, 5, 6]]\n");
    let (code, out, err) = run(
        dir.path(),
        &["run", "p.grad", "--print", "x", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dims"]["W"], 2);
    // one unknown that cannot be solved for
    let dir = with_program("dim N, H\ninput x: [N, (H + 1) / 2] = [[1, 2, 3]]\n");
    let (code, out, _) = run(dir.path(), &["run", "p.grad", "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0605");
    assert_eq!(
        d["message"],
        "the literal of `x` has 3 along axis 1, declared `(H + 1) / 2`, which cannot be solved for `H`"
    );
    assert!(d["help"].as_str().unwrap().contains("--dim H=.."), "{d}");
}

#[test]
fn definitions_cannot_grow_without_bound_and_long_cycles_are_shortened() {
    // each line squares the one before: H^2, H^4, ... H^256
    let mut text = String::from("dim H\ndim S0 = H * H\n");
    for i in 1..12 {
        text.push_str(&format!("dim S{i} = S{} * S{}\n", i - 1, i - 1));
    }
    let (_, checked) = check_source(&text);
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(
        errors,
        ["the definition of `S7` is too large: more than 256 terms and factors once the derived dimensions in it are replaced"]
    );
    // a cycle through ten dimensions names its first six
    let mut text = String::from("dim H\n");
    for i in 0..10 {
        text.push_str(&format!("dim C{i} = C{} + 1\n", (i + 1) % 10));
    }
    let (_, checked) = check_source(&text);
    let e = checked.diagnostics.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(
        e.message,
        "derived dimensions defined in terms of each other: `C0` -> `C1` -> `C2` -> `C3` -> `C4` -> `C5` -> ... (10 in all) -> `C0`"
    );
    assert_eq!(
        checked.diagnostics.iter().filter(|d| d.is_error()).count(),
        1
    );
}
