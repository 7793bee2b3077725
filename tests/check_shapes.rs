//! The checked shape of every binding of every example, as a snapshot: the
//! generalized Jacobian rules at work (`jacobian(y, x)` is y ++ x, ...).

use gradlang::check::check_source;
use gradlang::check::typed::TensorKind;

#[test]
fn examples_check_clean_with_these_shapes() {
    insta::glob!("../examples", "*.grad", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let (_, checked) = check_source(&text);
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let mut out = String::new();
        for d in &checked.decls {
            let role = match d.kind {
                TensorKind::Input => "input",
                TensorKind::Param => "param",
                _ => "instance param",
            };
            out.push_str(&format!("{role} {}: {}\n", d.name, checked.display(&d.ty)));
        }
        for b in &checked.bindings {
            let kind = b.role.prefix();
            out.push_str(&format!("{kind}{}: {}\n", b.name, checked.display(&b.ty)));
        }
        for d in &checked.diagnostics {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        insta::assert_snapshot!(out);
    });
}

/// Every new builtin of issue 10 (`tests/shapes/issue10_ops.grad`): the shape
/// the checker proves, with the dimensions' values substituted, is the shape
/// `gradlang run --format json` computes.
#[test]
fn issue10_ops_run_with_their_checked_shapes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shapes/issue10_ops.grad");
    let text = std::fs::read_to_string(path).unwrap();
    let (_, checked) = check_source(&text);
    assert!(!checked.diagnostics.iter().any(|d| d.is_error()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gradlang"))
        .args(["run", path, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dims = &json["dims"];
    let value = |name: &str| dims[name].as_i64().unwrap();
    let mut seen = 0;
    for b in &checked.bindings {
        let shown = checked.display(&b.ty);
        let v = json["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == b.name.as_str())
            .unwrap_or_else(|| panic!("{} not printed", b.name));
        let ran: Vec<i64> = v["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        // evaluate each checked dimension expression under the run's dims
        let expected: Vec<i64> =
            b.ty.shape
                .iter()
                .map(|p| {
                    let declared = |d| {
                        let name = checked.dims.info(d).name.clone();
                        dims.get(&name).map(|_| value(&name))
                    };
                    i64::try_from(p.eval(&declared).unwrap()).unwrap()
                })
                .collect();
        assert_eq!(ran, expected, "{}: checked {shown}", b.name);
        seen += 1;
    }
    assert!(seen >= 24, "{seen} bindings");
}
