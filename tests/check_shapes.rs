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
            let kind = if b.is_loss { "loss " } else { "" };
            out.push_str(&format!("{kind}{}: {}\n", b.name, checked.display(&b.ty)));
        }
        for d in &checked.diagnostics {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        insta::assert_snapshot!(out);
    });
}
