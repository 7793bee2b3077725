//! gradlang's safetensors files against Hugging Face's `safetensors` package
//! and NumPy (a venv made once by `common::python`): what gradlang writes
//! loads in Python with the same values and metadata, and what Python writes
//! is read by `gradlang run --inputs`.

mod common;

use assert_cmd::Command;
use common::python::run_python;
use gradlang::data::{read_safetensors, write_safetensors, ArrayData, ArrayRef};
use ndarray::{array, ArrayD, IxDyn};
use serde_json::Value;
use std::collections::BTreeMap;

/// Every tensor of the file at argv[1] as JSON: names, dtype, shape, values
/// (floats as their bit patterns, so the comparison is exact); and
/// `safe_open(..).metadata()`.
const DUMP: &str = r#"
import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file
path = sys.argv[1]
tensors = load_file(path)
with safe_open(path, framework="np") as f:
    metadata = f.metadata()
    keys = list(f.keys())
out = {"keys": keys, "metadata": metadata, "tensors": {
    name: {"dtype": str(a.dtype), "shape": list(a.shape),
           "data": (a.ravel().view(f"u{a.itemsize}") if a.dtype.kind == "f" else a.ravel()).tolist()}
    for name, a in tensors.items()}}
print(json.dumps(out))
"#;

fn bits(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn as_f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn a_file_written_by_gradlang_loads_in_python_with_equal_values_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let w = ArrayD::from_shape_vec(
        IxDyn(&[2, 3]),
        vec![1.5f32, -2.0, f32::MAX, f32::MIN_POSITIVE, 1e-45, -0.0],
    )
    .unwrap();
    let b = array![0.1f64, -1e300, 3.0].into_dyn();
    let t = array![[0i64, -1], [i64::MAX, i64::MIN]].into_dyn();
    let m = array![true, false, true, true].into_dyn();
    // A transposed view is written in row-major order of its logical shape.
    let wt = w.t();
    let tensors: Vec<(String, ArrayRef<'_>)> = vec![
        ("fc1.W".into(), ArrayRef::F32(w.view())),
        ("fc1.b".into(), ArrayRef::F64(b.view())),
        ("labels".into(), ArrayRef::I64(t.view())),
        ("mask".into(), ArrayRef::Bool(m.view())),
        ("W.T".into(), ArrayRef::F32(wt.view())),
    ];
    let metadata = BTreeMap::from([
        ("format".to_string(), "gradlang".to_string()),
        ("step".to_string(), "120".to_string()),
        ("note".to_string(), "ünïcode ✓".to_string()),
    ]);
    write_safetensors(&path, &tensors, &metadata).unwrap();

    let out: Value = serde_json::from_str(&run_python(DUMP, &[path.to_str().unwrap()])).unwrap();
    let meta: BTreeMap<String, String> = serde_json::from_value(out["metadata"].clone()).unwrap();
    assert_eq!(meta, metadata);
    let mut keys: Vec<&str> = out["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, ["W.T", "fc1.W", "fc1.b", "labels", "mask"]);
    let t_ = &out["tensors"];
    assert_eq!(t_["fc1.W"]["dtype"], "float32");
    assert_eq!(t_["fc1.W"]["shape"], serde_json::json!([2, 3]));
    let expected: Vec<u64> = w.iter().map(|&x| u64::from(x.to_bits())).collect();
    assert_eq!(bits(&t_["fc1.W"]["data"]), expected);
    assert_eq!(t_["W.T"]["shape"], serde_json::json!([3, 2]));
    let expected: Vec<u64> = wt.iter().map(|&x| u64::from(x.to_bits())).collect();
    assert_eq!(bits(&t_["W.T"]["data"]), expected);
    assert_eq!(t_["fc1.b"]["dtype"], "float64");
    let expected: Vec<u64> = b.iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits(&t_["fc1.b"]["data"]), expected);
    assert_eq!(t_["labels"]["dtype"], "int64");
    let labels: Vec<i64> = t_["labels"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(labels, t.iter().copied().collect::<Vec<_>>());
    assert_eq!(t_["mask"]["dtype"], "bool");
    assert_eq!(
        t_["mask"]["data"],
        serde_json::json!([true, false, true, true])
    );

    // No metadata: Python sees None, as for its own files without.
    let bare = dir.path().join("bare.safetensors");
    write_safetensors(&bare, &tensors[..1], &BTreeMap::new()).unwrap();
    let out: Value = serde_json::from_str(&run_python(DUMP, &[bare.to_str().unwrap()])).unwrap();
    assert_eq!(out["metadata"], Value::Null);
}

#[test]
fn a_file_written_by_python_is_read_by_gradlang_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.safetensors");
    run_python(
        r#"
import sys
import numpy as np
from safetensors.numpy import save_file
save_file({
    "x": np.array([[1.0, 2.0], [3.0, 4.5], [5.0, -6.25]], dtype=np.float32),
    "w": np.array([0.5, -1.0], dtype=np.float64),
    "t": np.array([0, 1, 1], dtype=np.int64),
    "k": np.array([2, 0, 1], dtype=np.int32),
    "m": np.array([True, False, True]),
}, sys.argv[1], metadata={"origin": "numpy"})
"#,
        &[path.to_str().unwrap()],
    );
    // The library: every tensor, the metadata.
    let file = read_safetensors(&path).unwrap();
    assert_eq!(file.metadata["origin"], "numpy");
    let x = file.tensors.iter().find(|(n, _)| n == "x").unwrap();
    assert_eq!(
        x.1,
        ArrayData::F32(array![[1.0f32, 2.0], [3.0, 4.5], [5.0, -6.25]].into_dyn())
    );

    // The command line: inputs by name, dimensions bound from their shapes.
    std::fs::write(
        dir.path().join("p.grad"),
        "dim N, D\ninput x: [N, D]\ninput w: [D]\ninput t: [N] int\ninput k: [N] int\n\
         input m: [N] bool\ny = x @ w\nh = one_hot(t, D)\nmasked = where(m, y, 0)\n",
    )
    .unwrap();
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "run",
            "p.grad",
            "--inputs",
            "in.safetensors",
            "--format",
            "json",
        ])
        .args(["--dtype", "f64", "--print", "y,h,masked,k"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dims"], serde_json::json!({"N": 3, "D": 2}));
    assert_eq!(as_f64s(&v["values"][0]["data"]), [-1.5, -3.0, 8.75]);
    assert_eq!(
        as_f64s(&v["values"][1]["data"]),
        [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    );
    assert_eq!(as_f64s(&v["values"][2]["data"]), [-1.5, 0.0, 8.75]);
    assert_eq!(v["values"][3]["data"], serde_json::json!([2, 0, 1]));
}

/// A training checkpoint (SPEC section 11) loads with
/// `safetensors.numpy.load_file`: params by full name, the optimizer state,
/// and the metadata that lets a run resume.
#[test]
fn a_training_checkpoint_loads_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ckpt = dir.path().join("ckpt");
    Command::cargo_bin("gradlang")
        .unwrap()
        .arg("train")
        .arg(root.join("examples/digits_mlp.grad"))
        .arg("--inputs")
        .arg(root.join("examples/data/digits_train.npz"))
        .args(["--epochs", "2", "--progress", "none", "--checkpoint-dir"])
        .arg(&ckpt)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .success();
    let path = ckpt.join("last.safetensors");
    let dumped: Value = serde_json::from_str(&run_python(DUMP, &[path.to_str().unwrap()])).unwrap();
    let ours = read_safetensors(&path).unwrap();
    let names: Vec<&str> = ours.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "fc1.W",
            "fc1.b",
            "fc2.W",
            "fc2.b",
            "optimizer.m.fc1.W",
            "optimizer.v.fc1.W",
            "optimizer.m.fc1.b",
            "optimizer.v.fc1.b",
            "optimizer.m.fc2.W",
            "optimizer.v.fc2.W",
            "optimizer.m.fc2.b",
            "optimizer.v.fc2.b"
        ]
    );
    for (name, data) in &ours.tensors {
        let t = &dumped["tensors"][name];
        assert_eq!(t["dtype"], "float32", "{name}");
        let ArrayData::F32(a) = data else {
            panic!("{name}: {data:?}")
        };
        let expected: Vec<u64> = a.iter().map(|v| u64::from(v.to_bits())).collect();
        assert_eq!(bits(&t["data"]), expected, "{name}");
    }
    let meta = &dumped["metadata"];
    assert_eq!(meta["format"], "gradlang-checkpoint-1");
    assert_eq!(meta["epoch"], "2");
    assert_eq!(meta["step"], "90");
    let hp: Value = serde_json::from_str(meta["hyperparameters"].as_str().unwrap()).unwrap();
    assert_eq!(hp["optimizer"]["name"], "adamw");
    assert_eq!(hp["batch_size"], 32);
}
