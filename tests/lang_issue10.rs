//! Issue 10, part A (comparisons and `bool`, indexing and slicing, `take`,
//! `gather`, `.mT`, `pi`/`inf`, dimension division, `reshape` with -1,
//! `flatten`, dimensions bound through expressions) from the outside: checked
//! shapes equal run shapes, values, and derivatives against finite differences
//! (`gradlang gradcheck --dtype f64`).

use assert_cmd::Command;
use gradlang::check::check_source;
use gradlang::data::write_npy_atomic;
use ndarray::{ArrayD, IxDyn};

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

const PROGRAM: &str = r#"
dim N = 5
dim H = 3, W = 4
input x: [N] = [1, -2, 3, -4, 5]
input m: [H, W] = normal(0, 1)
input t: [N] int = [0, 1, 2, 0, 1]
input gi: [H] int = [0, 1, 3]
mask = x > 0
ge = x >= 3
ne = t != 1
y = where(mask, x, 0)
z = where(x <= 1, -inf, x * pi)
f = float(x != 3)
ft = float(t)
s = x[1:]
s2 = x[::2]
s3 = m[1, 1:3]
s4 = m[:, -2:]
s5 = m[:H - 1, W / 2:]
r = m[-1]
a = m[0]
mt = m.mT
fl = flatten(m, start=0)
rs = reshape(m, [W, -1])
tk = take(m, t, axis=1)
ga = gather(m, gi)
loss L = sum(y * y) + sum(s2 * s2) + sum(s3) + sum(tk * tk) + sum(ga * s4[:, 0]) + sum(s5 * s5)
gx = grad(L, x)
gm = grad(L, m)
"#;

#[test]
fn checked_shapes_equal_run_shapes_and_values_are_numpy_s() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.grad"), PROGRAM).unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["run", "p.grad", "--dtype", "f64", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (_, checked) = check_source(PROGRAM);
    let dims = |name: &str| v["dims"][name].as_i64();
    for value in v["values"].as_array().unwrap() {
        let name = value["name"].as_str().unwrap();
        let b = checked.bindings.iter().find(|b| b.name == name).unwrap();
        let want: Vec<i64> =
            b.ty.shape
                .iter()
                .map(|p| p.eval(&|d| dims(checked.dims.name(d))).unwrap() as i64)
                .collect();
        let got: Vec<i64> = value["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let get = |n: &str| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(get("mask")["dtype"], "bool");
    assert_eq!(
        get("mask")["data"],
        serde_json::json!([true, false, true, false, true])
    );
    assert_eq!(
        get("ne")["data"],
        serde_json::json!([true, false, true, true, false])
    );
    assert_eq!(
        get("y")["data"],
        serde_json::json!([1.0, 0.0, 3.0, 0.0, 5.0])
    );
    assert_eq!(get("z")["data"][0], "-inf");
    assert_eq!(get("s2")["data"], serde_json::json!([1.0, 3.0, 5.0]));
    assert_eq!(
        get("ft")["data"],
        serde_json::json!([0.0, 1.0, 2.0, 0.0, 1.0])
    );
    // symbolic shapes as the checker carries them
    let shape_of = |n: &str| {
        let b = checked.bindings.iter().find(|b| b.name == n).unwrap();
        checked.display(&b.ty)
    };
    assert_eq!(shape_of("s"), "[N - 1]");
    assert_eq!(shape_of("s2"), "[(N + 1) / 2]");
    assert_eq!(shape_of("s5"), "[H - 1, W - (W / 2)]");
    assert_eq!(shape_of("mask"), "[N] bool");
    assert_eq!(shape_of("fl"), "[H * W]");
    assert_eq!(shape_of("rs"), "[W, H]");
    assert_eq!(shape_of("tk"), "[H, N]");
    assert_eq!(shape_of("mt"), "[W, H]");
}

#[test]
fn human_output_prints_bool_as_numpy_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.grad"),
        "dim N = 3\ninput x: [N] = [1, -2, 3]\nm = x > 0\nk = (x > 0) == (x > -5)\n",
    )
    .unwrap();
    let (code, out, err) = run(dir.path(), &["run", "p.grad"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "m: [N=3] bool =\n[ True False  True]\nk: [N=3] bool =\n[ True False  True]\n"
    );
}

#[test]
fn derivatives_match_finite_differences_in_f64() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.grad"), PROGRAM).unwrap();
    let (code, out, err) = run(dir.path(), &["gradcheck", "p.grad"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn bool_inputs_read_npy_b1_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.grad"),
        "dim T\ninput s: [T, T] = ones\ninput keep: [T, T] bool\nm = where(keep, s, -inf)\n",
    )
    .unwrap();
    let keep = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![true, false, true, true]).unwrap();
    write_npy_atomic(&dir.path().join("keep.npy"), keep.view()).unwrap();
    let (code, out, err) = run(
        dir.path(),
        &[
            "run",
            "p.grad",
            "--input",
            "keep=keep.npy",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dims"]["T"], 2);
    assert_eq!(
        v["values"][0]["data"],
        serde_json::json!([1.0, "-inf", 1.0, 1.0])
    );
    // a float file for a bool input is refused
    let f = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f64, 0.0, 1.0, 1.0]).unwrap();
    write_npy_atomic(&dir.path().join("f.npy"), f.view()).unwrap();
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--input", "keep=f.npy"]);
    assert_eq!(code, 1);
    assert!(err.contains("is a bool tensor"), "{err}");
}

#[test]
fn dimensions_bind_through_expressions_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    // W appears only inside `H * W`; H is bound by a later declaration.
    std::fs::write(
        dir.path().join("p.grad"),
        "dim N, H, W\ninput img: [N, H * W]\ninput h: [H]\ny = reshape(img, [N, H, W])\n",
    )
    .unwrap();
    let img = ArrayD::from_shape_vec(IxDyn(&[4, 12]), vec![0.5f64; 48]).unwrap();
    write_npy_atomic(&dir.path().join("img.npy"), img.view()).unwrap();
    let h = ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.0f64; 3]).unwrap();
    write_npy_atomic(&dir.path().join("h.npy"), h.view()).unwrap();
    let (code, out, err) = run(
        dir.path(),
        &[
            "run",
            "p.grad",
            "--input",
            "img=img.npy",
            "--input",
            "h=h.npy",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dims"], serde_json::json!({"N": 4, "H": 3, "W": 4}));
    // `[OH * 2]` binds OH
    std::fs::write(
        dir.path().join("q.grad"),
        "dim OH\ninput x: [OH * 2]\ny = x[::2]\n",
    )
    .unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[6]), vec![1.0f64; 6]).unwrap();
    write_npy_atomic(&dir.path().join("x.npy"), x.view()).unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["run", "q.grad", "--input", "x=x.npy", "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["dims"]["OH"], 3);
}

#[test]
fn slices_outside_the_axis_at_run_time_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.grad"),
        "dim N\ninput x: [N] = ones\ny = x[:5]\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--dim", "N=3"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0613"), "{err}");
    let (code, _, err) = run(dir.path(), &["run", "p.grad", "--dim", "N=7"]);
    assert_eq!(code, 0, "{err}");
}
