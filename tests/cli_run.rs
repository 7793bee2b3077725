//! `gradlang run` from the outside: every run-time error (E06xx) with its
//! rendered report as a snapshot, data files in and out, flags.

use assert_cmd::Command;
use gradlang::data::{
    encode_npy, read_npy, write_npy_atomic, write_safetensors, ArrayData, ArrayRef,
};
use ndarray::{ArrayD, IxDyn};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(program: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.grad"), program).unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn npy_f64(&self, name: &str, shape: &[usize], data: Vec<f64>) -> String {
        let a = ArrayD::from_shape_vec(IxDyn(shape), data).unwrap();
        write_npy_atomic(&self.path(name), a.view()).unwrap();
        self.path(name).display().to_string()
    }

    fn npy_i64(&self, name: &str, shape: &[usize], data: Vec<i64>) -> String {
        let a = ArrayD::from_shape_vec(IxDyn(shape), data).unwrap();
        write_npy_atomic(&self.path(name), a.view()).unwrap();
        self.path(name).display().to_string()
    }

    /// Runs `gradlang ARGS` in the case's directory; stdout, stderr (with the
    /// directory replaced by `TMP`) and the exit code.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::cargo_bin("gradlang")
            .unwrap()
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        let tmp = self.dir.path().display().to_string();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap().replace(&tmp, "TMP"),
        )
    }

    /// Runs and expects exit 1 with `code` in the report; returns the report.
    fn fails_with(&self, args: &[&str], code: &str) -> String {
        let (status, _, stderr) = self.run(args);
        assert_eq!(
            status, 1,
            "expected exit 1 with {code}, got {status}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("[{code}]")) || stderr.contains(code),
            "expected {code}:\n{stderr}"
        );
        stderr
    }
}

#[test]
fn e0601_missing_input_value() {
    let c = Case::new("dim N = 3\ninput x: [N]\ny = sum(x)\n");
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0601"));
}

#[test]
fn e0602_unreadable_or_malformed_files() {
    let c = Case::new("dim N = 3\ninput x: [N]\ny = sum(x)\n");
    insta::assert_snapshot!(
        "missing",
        c.fails_with(&["run", "p.grad", "--input", "x=nope.npy"], "E0602")
    );
    std::fs::write(c.path("garbage.npy"), b"this is not numpy").unwrap();
    insta::assert_snapshot!(
        "garbage",
        c.fails_with(&["run", "p.grad", "--input", "x=garbage.npy"], "E0602")
    );
    c.npy_f64("good.npy", &[3], vec![1.0, 2.0, 3.0]);
    let bytes = std::fs::read(c.path("good.npy")).unwrap();
    std::fs::write(c.path("short.npy"), &bytes[..bytes.len() - 4]).unwrap();
    insta::assert_snapshot!(
        "truncated",
        c.fails_with(&["run", "p.grad", "--input", "x=short.npy"], "E0602")
    );
    let mut complex = bytes.clone();
    let at = complex.windows(4).position(|w| w == b"<f8'").unwrap();
    complex[at + 1] = b'c';
    std::fs::write(c.path("complex.npy"), &complex).unwrap();
    let report = c.fails_with(&["run", "p.grad", "--input", "x=complex.npy"], "E0602");
    assert!(report.contains("c8"), "{report}");
}

#[test]
fn e0603_values_that_do_not_fit_their_declaration() {
    let c = Case::new("input x: [4] = zeros\ny = sum(x)\n");
    c.npy_f64("x3.npy", &[3], vec![1.0, 2.0, 3.0]);
    insta::assert_snapshot!(
        "shape",
        c.fails_with(&["run", "p.grad", "--input", "x=x3.npy"], "E0603")
    );
    c.npy_i64("xi.npy", &[4], vec![1, 2, 3, 4]);
    insta::assert_snapshot!(
        "dtype",
        c.fails_with(&["run", "p.grad", "--input", "x=xi.npy"], "E0603")
    );

    let c = Case::new("dim N = 2, C = 3\ninput logits: [N, C] = zeros\ninput t: [N] int\nloss L = cross_entropy(logits, t)\n");
    c.npy_i64("t.npy", &[2], vec![0, 7]);
    insta::assert_snapshot!(
        "label",
        c.fails_with(&["run", "p.grad", "--input", "t=t.npy"], "E0603")
    );
    c.npy_f64("tf.npy", &[2], vec![0.0, 1.0]);
    c.fails_with(&["run", "p.grad", "--input", "t=tf.npy"], "E0603");
}

#[test]
fn e0604_dimension_sources_disagree() {
    let c = Case::new("dim N\ninput a: [N] = zeros\ninput b: [N] = zeros\nc = a + b\n");
    c.npy_f64("a.npy", &[3], vec![1.0; 3]);
    c.npy_f64("b.npy", &[4], vec![1.0; 4]);
    insta::assert_snapshot!(
        "files",
        c.fails_with(
            &["run", "p.grad", "--input", "a=a.npy", "--input", "b=b.npy"],
            "E0604"
        )
    );
    insta::assert_snapshot!(
        "flag",
        c.fails_with(
            &["run", "p.grad", "--dim", "N=5", "--input", "a=a.npy"],
            "E0604"
        )
    );
}

#[test]
fn e0605_dimension_without_value() {
    let c = Case::new("dim N\ninput x: [N] = zeros\ny = x * 2\n");
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0605"));
    let (code, stdout, _) = c.run(&["run", "p.grad", "--dim", "N=2"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("y: [N=2] f32 =\n[0. 0.]"), "{stdout}");
}

#[test]
fn e0606_jacobian_too_large() {
    let c = Case::new(include_str!("check/W0003_large_jacobian.grad"));
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0606"));
    // The limit is a flag: a small jacobian passes, and a lower limit refuses it.
    let c = Case::new("dim N = 4\ninput x: [N] = ones\nJ = jacobian(x * x, x)\n");
    assert_eq!(c.run(&["run", "p.grad"]).0, 0);
    c.fails_with(&["run", "p.grad", "--max-jacobian-bytes", "63"], "E0606");
    assert_eq!(c.run(&["run", "p.grad", "--max-jacobian-bytes", "64"]).0, 0);
}

#[test]
fn e0607_failing_assert_shows_the_largest_differences() {
    let c2 = Case::new("dim N = 3\ninput x: [N] = [1.0, 2.0, 3.0]\ninput e: [N] = [0.0, 0.5, 0.0]\ny = x * 2\nassert close(y, x + x + e)\n");
    let report = c2.fails_with(&["run", "p.grad"], "E0607");
    assert!(report.contains("[1]"), "{report}");
    insta::assert_snapshot!(report);
    // Values are still printed before the failure is reported.
    let (_, stdout, _) = c2.run(&["run", "p.grad"]);
    assert!(stdout.contains("y: [N=3] f32"), "{stdout}");
}

#[test]
fn e0608_non_finite_values_never_compare_close() {
    let c = Case::new("input x: [2] = [0.0, 1.0]\nassert close(log(x), log(x))\n");
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0608"));
}

#[test]
fn e0609_unwritable_output() {
    let c = Case::new("y = 2 * 3\n");
    std::fs::write(c.path("afile"), b"x").unwrap();
    let report = c.fails_with(&["run", "p.grad", "--out", "afile/sub"], "E0609");
    assert!(report.contains("afile"), "{report}");
    insta::assert_snapshot!(report);
}

#[test]
fn e0610_values_too_large_to_allocate() {
    let c = Case::new("dim N = 1000000000\ny = zeros([N, N])\n");
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0610"));
}

#[test]
fn e0612_derivative_through_a_materialized_jacobian() {
    let c =
        Case::new("dim N = 3\ninput x: [N] = ones\nJ = jacobian(x * x, x)\ng = grad(sum(J), x)\n");
    insta::assert_snapshot!(c.fails_with(&["run", "p.grad"], "E0612"));
    // Differentiating the expression instead works.
    let c = Case::new("dim N = 3\ninput x: [N] = ones\nH = hessian(sum(x * x * x), x)\n");
    assert_eq!(c.run(&["run", "p.grad"]).0, 0);
}

#[test]
fn e0611_unknown_names_on_the_command_line_are_misuse() {
    let c = Case::new("dim N = 3\ninput x: [N] = zeros\ny = x + 1\n");
    c.npy_f64("x.npy", &[3], vec![1.0; 3]);
    for args in [
        vec!["run", "p.grad", "--input", "xx=x.npy"],
        vec!["run", "p.grad", "--dim", "Q=3"],
        vec!["run", "p.grad", "--print", "yy"],
    ] {
        let (code, _, stderr) = c.run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("E0611")
                && (stderr.contains("did you mean") || stderr.contains("it has")),
            "{stderr}"
        );
        insta::assert_snapshot!(format!("e0611_{}", args[2].trim_start_matches('-')), stderr);
    }
}

#[test]
fn malformed_flags_exit_two() {
    let c = Case::new("dim N = 3\ny = N * 2\n");
    for args in [
        vec!["run", "p.grad", "--dim", "N"],
        vec!["run", "p.grad", "--dim", "N=0"],
        vec!["run", "p.grad", "--dim", "N=-3"],
        vec!["run", "p.grad", "--dim", "N=2.5"],
        vec!["run", "p.grad", "--dtype", "f16"],
        vec!["run", "p.grad", "--threads", "0"],
        vec!["run", "p.grad", "--input", "novalue"],
        vec!["run", "p.grad", "--frobnicate"],
        vec!["run", "missing.grad"],
    ] {
        assert_eq!(c.run(&args).0, 2, "{args:?}");
    }
}

#[test]
fn inputs_from_files_bind_dimensions_and_outputs_read_back() {
    let c = Case::new("dim N, D = 2\ninput x: [N, D]\ninput t: [N] int\nparam w: [D] = ones\ny = x @ w\nh = one_hot(t, D)\n");
    c.npy_f64("x.npy", &[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    c.npy_i64("t.npy", &[3], vec![0, 1, 1]);
    let (code, stdout, stderr) = c.run(&[
        "run", "p.grad", "--input", "x=x.npy", "--input", "t=t.npy", "--out", "out",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("y: [N=3] f32 =\n[ 3.  7. 11.]"), "{stdout}");
    match read_npy(&c.path("out/y.npy")).unwrap() {
        ArrayData::F32(a) => assert_eq!(a.as_slice().unwrap(), &[3.0, 7.0, 11.0]),
        other => panic!("unexpected {:?}", other.dtype_name()),
    }
    match read_npy(&c.path("out/h.npy")).unwrap() {
        ArrayData::F32(a) => assert_eq!(a.shape(), &[3, 2]),
        other => panic!("unexpected {:?}", other.dtype_name()),
    }
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(c.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn npz_archive_supplies_inputs_and_params_by_name() {
    let c = Case::new(include_str!("../examples/mlp.grad"));
    // Save the parameters of one run, then feed them back as an archive.
    let (code, _, stderr) = c.run(&[
        "run",
        "p.grad",
        "--print",
        "fc1.W,fc1.b,fc2.W,fc2.b,x,L",
        "--out",
        "ck",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let zip_path = c.path("ck.npz");
    let file = std::fs::File::create(&zip_path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for name in ["fc1.W", "fc1.b", "fc2.W", "fc2.b", "x"] {
        zip.start_file(
            format!("{name}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(
            &mut zip,
            &std::fs::read(c.path(&format!("ck/{name}.npy"))).unwrap(),
        )
        .unwrap();
    }
    zip.finish().unwrap();
    let (code, with_archive, stderr) = c.run(&[
        "run", "p.grad", "--print", "L", "--inputs", "ck.npz", "--seed", "123",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (_, original, _) = c.run(&["run", "p.grad", "--print", "L", "--seed", "7"]);
    assert_eq!(with_archive, original);
}

#[test]
fn thread_count_does_not_change_results() {
    let c = Case::new(include_str!("../examples/mlp.grad"));
    let one = c.run(&["run", "p.grad", "--format", "json", "--threads", "1"]);
    let two = c.run(&["run", "p.grad", "--format", "json", "--threads", "2"]);
    assert_eq!(one.0, 0);
    assert_eq!(one.1, two.1);
    let big = "dim N = 256, D = 300, M = 200\ninput x: [N, D] = normal(0, 1)\nparam W: [D, M] = normal(0, 0.1)\nloss L = sum(tanh(x @ W) ** 2)\ng = grad(L, W)\ns = sum(g)\n";
    let c = Case::new(big);
    let one = c.run(&[
        "run",
        "p.grad",
        "--format",
        "json",
        "--threads",
        "1",
        "--print",
        "L,g",
    ]);
    let two = c.run(&[
        "run",
        "p.grad",
        "--format",
        "json",
        "--threads",
        "2",
        "--print",
        "L,g",
    ]);
    assert_eq!(one.0, 0, "{}", one.2);
    assert!(one.1 == two.1, "results differ between 1 and 2 threads");
}

#[test]
fn seeds_are_per_name_not_per_declaration_order() {
    let a = Case::new("input p: [3] = normal(0, 1)\ninput q: [3] = normal(0, 1)\n");
    let b = Case::new("input q: [3] = normal(0, 1)\ninput p: [3] = normal(0, 1)\n");
    let pa = a.run(&["run", "p.grad", "--print", "p,q", "--seed", "5"]).1;
    let pb = b.run(&["run", "p.grad", "--print", "p,q", "--seed", "5"]).1;
    assert_eq!(pa, pb);
    let other = a.run(&["run", "p.grad", "--print", "p,q", "--seed", "6"]).1;
    assert_ne!(pa, other);
}

#[test]
fn f64_runs_use_tighter_asserts_and_print_f64() {
    let c = Case::new(include_str!("../examples/linear_small.grad"));
    let (code, stdout, stderr) = c.run(&[
        "run", "p.grad", "--dtype", "f64", "--format", "json", "--print", "L",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["values"][0]["dtype"], "f64");
    let l = v["values"][0]["data"][0].as_f64().unwrap();
    assert!((l - 2.26).abs() < 1e-12, "{l}");
}

#[test]
fn json_schema_and_non_finite_numbers() {
    let c = Case::new("input x: [3] = [0.0, 1.0, -1.0]\nlx = log(x)\nq = 1 / x\n");
    let (code, stdout, _) = c.run(&["run", "p.grad", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["dims"], serde_json::json!({}));
    let lx = &v["values"][0];
    assert_eq!(lx["name"], "lx");
    assert_eq!(lx["shape"], serde_json::json!([3]));
    assert_eq!(lx["data"][0], "-inf");
    assert_eq!(lx["data"][1], 0.0);
    assert_eq!(lx["data"][2], "nan");
    assert_eq!(
        v["values"][1]["data"],
        serde_json::json!(["inf", 1.0, -1.0])
    );
}

#[test]
fn check_errors_stop_the_run_before_anything_is_evaluated() {
    let c = Case::new("dim N = 2, M = 3\ninput x: [N] = zeros\ninput y: [M] = zeros\nz = x + y\n");
    let (code, stdout, stderr) = c.run(&["run", "p.grad"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("E0301"));
    assert!(Path::new(&c.path("p.grad")).exists());
}

#[test]
fn operator_precedence_and_associativity_follow_the_spec() {
    let c = Case::new(
        "a = -2 ** 2\nb = 2 ** 3 ** 2\nc = 10 - 3 - 2\nd = 2 ** -1\ne = 2 * 3 + 4 * 5\nf = 8 / 2 / 2\ng = -(2 + 1) * 2\n",
    );
    let (code, stdout, stderr) = c.run(&["run", "p.grad", "--format", "json", "--dtype", "f64"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let values: Vec<f64> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["data"][0].as_f64().unwrap())
        .collect();
    assert_eq!(values, [-4.0, 512.0, 5.0, 0.5, 26.0, 2.0, -6.0]);
}

#[test]
fn repeat_and_profile_leave_stdout_unchanged_and_report_on_stderr() {
    let case = Case::new(
        "dim N = 4, D = 3\ninput x: [N, D] = normal(0, 1)\nparam W: [D, D] = normal(0, 1)\n\
         y = tanh(x @ W)\nloss L = sum(y * y)\ndW = grad(L, W)\nb = sum(dW, axis=0)\n",
    );
    let (code, plain, err) = case.run(&["run", "p.grad"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let (code, repeated, err) = case.run(&["run", "p.grad", "--repeat", "3", "--profile"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        plain, repeated,
        "values must not depend on --repeat/--profile"
    );
    assert!(err.contains("3 runs after 1 warm-up"), "{err}");
    for phase in [
        "parse+check",
        "bind/load",
        "forward",
        "backward",
        "evaluation",
    ] {
        assert!(err.contains(phase), "missing phase {phase}:\n{err}");
    }
    for prim in ["matmul", "tanh", "sum", "calls/run", "share"] {
        assert!(err.contains(prim), "missing {prim}:\n{err}");
    }
    let (code, repeated, _) = case.run(&["run", "p.grad", "--repeat", "2", "--threads", "1"]);
    assert_eq!(code, 0);
    assert_eq!(plain, repeated);
    let (code, _, err) = case.run(&["run", "p.grad", "--repeat", "0"]);
    assert_eq!(code, 2, "{err}");
}

/// The trained parameters of `examples/mlp.grad` after one run with `seed`,
/// read back from `--out`.
fn mlp_params(c: &Case, seed: &str) -> Vec<(String, ArrayData)> {
    let (code, _, stderr) = c.run(&[
        "run",
        "p.grad",
        "--print",
        "fc1.W,fc1.b,fc2.W,fc2.b",
        "--out",
        "saved",
        "--seed",
        seed,
    ]);
    assert_eq!(code, 0, "{stderr}");
    ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]
        .iter()
        .map(|n| {
            let a = read_npy(&c.path(&format!("saved/{n}.npy"))).unwrap();
            (n.to_string(), a)
        })
        .collect()
}

fn write_st(c: &Case, name: &str, arrays: &[(String, ArrayData)]) {
    let refs: Vec<(String, ArrayRef<'_>)> =
        arrays.iter().map(|(n, a)| (n.clone(), a.view())).collect();
    write_safetensors(&c.path(name), &refs, &BTreeMap::new()).unwrap();
}

fn write_npz(c: &Case, name: &str, arrays: &[(String, ArrayData)]) {
    let file = std::fs::File::create(c.path(name)).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for (n, a) in arrays {
        zip.start_file(format!("{n}.npy"), zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &encode_npy(a.view())).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn params_file_supplies_every_param_in_either_format() {
    let c = Case::new(include_str!("../examples/mlp.grad"));
    let params = mlp_params(&c, "7");
    write_st(&c, "p.safetensors", &params);
    write_npz(&c, "p.npz", &params);
    let (_, original, _) = c.run(&["run", "p.grad", "--print", "L,dW1", "--seed", "7"]);
    for file in ["p.safetensors", "p.npz"] {
        // Another seed: the params come from the file, `x` from the seed 7 again.
        let (code, out, stderr) = c.run(&[
            "run", "p.grad", "--print", "L,dW1", "--seed", "7", "--params", file,
        ]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert_eq!(out, original, "{file}");
    }
    // The params replace the initializers: with another seed only `x` changes.
    let (_, seeded, _) = c.run(&["run", "p.grad", "--print", "fc1.W", "--seed", "8"]);
    let (code, from_file, _) = c.run(&[
        "run",
        "p.grad",
        "--print",
        "fc1.W",
        "--seed",
        "8",
        "--params",
        "p.safetensors",
    ]);
    assert_eq!(code, 0);
    assert_ne!(seeded, from_file);
    // f32 values in an f64 run are widened exactly.
    let (code, out, stderr) = c.run(&[
        "run",
        "p.grad",
        "--dtype",
        "f64",
        "--format",
        "json",
        "--print",
        "fc2.b",
        "--params",
        "p.safetensors",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected: Vec<f64> = params[3].1.to_f64().unwrap().iter().copied().collect();
    let got: Vec<f64> = v["values"][0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(got, expected);
    // Everything `run` accepts, `gradcheck` accepts.
    let (code, out, stderr) = c.run(&["gradcheck", "p.grad", "--params", "p.npz"]);
    assert_eq!(code, 0, "{out}{stderr}");
}

#[test]
fn e0615_params_file_does_not_fit() {
    let c = Case::new(include_str!("../examples/mlp.grad"));
    let mut params = mlp_params(&c, "7");
    // fc2.b missing; the input x and an unknown name extra; fc1.W of the wrong
    // width; fc2.W of the wrong kind.
    params.retain(|(n, _)| n != "fc2.b");
    params[0].1 = ArrayData::F32(ArrayD::zeros(IxDyn(&[16, 31])));
    params[2].1 = ArrayData::I64(ArrayD::zeros(IxDyn(&[32, 4])));
    params.push(("x".into(), ArrayData::F32(ArrayD::zeros(IxDyn(&[8, 16])))));
    params.push(("fc3.W".into(), ArrayData::F32(ArrayD::zeros(IxDyn(&[2])))));
    write_st(&c, "bad.safetensors", &params);
    let report = c.fails_with(&["run", "p.grad", "--params", "bad.safetensors"], "E0615");
    for part in [
        "missing `fc2.b`",
        "extra `x` (an input), `fc3.W`",
        "`fc1.W` (declared [D=16, H=32], the file has [16, 31])",
        "`fc2.W` (a float param, the file holds int64)",
    ] {
        assert!(report.contains(part), "{part}:\n{report}");
    }
    insta::assert_snapshot!(report);
    // One diagnostic, in JSON too.
    let (code, out, _) = c.run(&[
        "run",
        "p.grad",
        "--params",
        "bad.safetensors",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 1);
    assert_eq!(v["diagnostics"][0]["code"], "E0615");
    // An empty file: every param is missing.
    write_st(&c, "empty.safetensors", &[]);
    let report = c.fails_with(&["run", "p.grad", "--params", "empty.safetensors"], "E0615");
    assert!(
        report.contains("missing `fc1.W`, `fc1.b`, `fc2.W`, `fc2.b`"),
        "{report}"
    );
    // A dimension given on the command line makes every value that has it mismatched.
    let good = mlp_params(&c, "7");
    write_st(&c, "good.safetensors", &good);
    let report = c.fails_with(
        &[
            "run",
            "p.grad",
            "--params",
            "good.safetensors",
            "--dim",
            "H=5",
        ],
        "E0615",
    );
    assert!(
        report.contains("`fc1.W` (declared [D=16, H=5], the file has [16, 32]), `fc1.b`"),
        "{report}"
    );
    // The file's values bind dimensions like any file: a consistent H=64 fits.
    let wide: Vec<(String, ArrayData)> = good
        .iter()
        .map(|(n, a)| {
            let shape: Vec<usize> = a
                .shape()
                .iter()
                .map(|&d| if d == 32 { 64 } else { d })
                .collect();
            (n.clone(), ArrayData::F32(ArrayD::zeros(IxDyn(&shape))))
        })
        .collect();
    write_st(&c, "wide.safetensors", &wide);
    let (code, out, stderr) = c.run(&[
        "run",
        "p.grad",
        "--params",
        "wide.safetensors",
        "--print",
        "h",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("h: [N=8, H=64] f32"), "{out}");
    // A params file that cannot be read is E0602.
    let report = c.fails_with(&["run", "p.grad", "--params", "nope.safetensors"], "E0602");
    assert!(report.contains("nope.safetensors"), "{report}");
}

#[test]
fn an_explicit_value_wins_over_the_params_file() {
    let c = Case::new(include_str!("../examples/mlp.grad"));
    let params = mlp_params(&c, "7");
    write_st(&c, "p.safetensors", &params);
    c.npy_f64("b.npy", &[4], vec![1.0, 2.0, 3.0, 4.0]);
    let (code, out, stderr) = c.run(&[
        "run",
        "p.grad",
        "--params",
        "p.safetensors",
        "--input",
        "fc2.b=b.npy",
        "--print",
        "fc2.b",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("[1. 2. 3. 4.]"), "{out}");
    // An --inputs member too.
    let b = ArrayData::F32(ndarray::array![5.0f32, 6.0, 7.0, 8.0].into_dyn());
    write_st(&c, "in.safetensors", &[("fc2.b".to_string(), b)]);
    let (code, out, stderr) = c.run(&[
        "run",
        "p.grad",
        "--params",
        "p.safetensors",
        "--inputs",
        "in.safetensors",
        "--print",
        "fc2.b",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("[5. 6. 7. 8.]"), "{out}");
}

#[test]
fn inputs_archive_in_either_format_is_told_by_its_contents_and_name() {
    let c = Case::new(
        "dim N, D = 2\ninput x: [N, D]\ninput t: [N] int\ninput m: [N] bool\ny = sum(x, axis=1)\n",
    );
    let arrays = vec![
        (
            "x".to_string(),
            ArrayData::F64(ndarray::array![[1.0, 2.0], [3.0, 4.5], [5.0, 6.0]].into_dyn()),
        ),
        (
            "t".to_string(),
            ArrayData::I32(ndarray::array![0, 1, 1].into_dyn()),
        ),
        (
            "m".to_string(),
            ArrayData::Bool(ndarray::array![true, false, true].into_dyn()),
        ),
    ];
    write_st(&c, "in.safetensors", &arrays);
    write_npz(&c, "in.npz", &arrays);
    for file in ["in.safetensors", "in.npz"] {
        let (code, out, stderr) = c.run(&["run", "p.grad", "--inputs", file, "--print", "y,t,m"]);
        assert_eq!(code, 0, "{file}: {stderr}");
        assert!(
            out.contains("y: [N=3] f32 =\n[ 3.   7.5 11. ]"),
            "{file}: {out}"
        );
        assert!(out.contains("t: [N=3] int =\n[0 1 1]"), "{file}: {out}");
        assert!(
            out.contains("m: [N=3] bool =\n[ True False  True]"),
            "{file}: {out}"
        );
    }
    // A name that disagrees with the contents, or names neither format.
    std::fs::copy(c.path("in.safetensors"), c.path("st.npz")).unwrap();
    std::fs::copy(c.path("in.npz"), c.path("zip.safetensors")).unwrap();
    std::fs::copy(c.path("in.safetensors"), c.path("in.bin")).unwrap();
    for (file, says) in [
        (
            "st.npz",
            "named .npz but holds a safetensors file; rename it to .safetensors",
        ),
        (
            "zip.safetensors",
            "holds a zip archive (an .npz?); rename it to .npz",
        ),
        (
            "in.bin",
            "must end in .npz or .safetensors; it looks like a safetensors file",
        ),
    ] {
        let report = c.fails_with(&["run", "p.grad", "--inputs", file], "E0602");
        assert!(report.contains(says), "{file}:\n{report}");
    }
    // A truncated safetensors file names the file.
    let bytes = std::fs::read(c.path("in.safetensors")).unwrap();
    std::fs::write(c.path("short.safetensors"), &bytes[..bytes.len() - 3]).unwrap();
    let report = c.fails_with(&["run", "p.grad", "--inputs", "short.safetensors"], "E0602");
    assert!(
        report.contains("short.safetensors") && report.contains("truncated"),
        "{report}"
    );
}

#[test]
fn the_digits_example_data_loads_from_deflated_archives() {
    let c = Case::new(
        "dim N\ninput images: [N, 8, 8, 1]\ninput labels: [N] int\n\
         lo = min(images)\nhi = max(images)\nper_class = sum(one_hot(labels, 10), axis=0)\n",
    );
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    // The class counts of the stratified split (examples/data/README.md).
    let train = [
        142.0, 146.0, 142.0, 146.0, 145.0, 145.0, 145.0, 143.0, 139.0, 144.0,
    ];
    let test = [36.0, 36.0, 35.0, 37.0, 36.0, 37.0, 36.0, 36.0, 35.0, 36.0];
    for (file, n, counts) in [
        ("digits_train.npz", 1437.0, train),
        ("digits_test.npz", 360.0, test),
    ] {
        let path = data.join(file).display().to_string();
        let (code, out, stderr) = c.run(&["run", "p.grad", "--inputs", &path, "--format", "json"]);
        assert_eq!(code, 0, "{file}: {stderr}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["dims"]["N"], n as i64, "{file}");
        let value = |i: usize| -> Vec<f64> {
            v["values"][i]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        assert_eq!(value(0), [0.0], "{file}: pixels start at 0");
        assert_eq!(value(1), [1.0], "{file}: 16/16 is the brightest pixel");
        assert_eq!(value(2), counts, "{file}");
        assert_eq!(counts.iter().sum::<f64>(), n);
    }
}
