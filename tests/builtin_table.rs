//! The builtin table is the single definition of every builtin: the reference
//! page `docs/builtins.md` is generated from it and must stay equal to it.
//! Regenerate with `GRADLANG_BLESS=1 cargo test --test builtin_table`.

use gradlang::check::builtin_table;

const HEADER: &str = "# Built-in functions\n\n\
Generated from the builtin table (`src/check/builtins/table.rs`) by \
`GRADLANG_BLESS=1 cargo test --test builtin_table`; a test keeps it equal to the table.\n\
Positional arguments come first, then options as `name=value` with the defaults shown. \
Axes may be negative (counted from the end) and are integer arithmetic on literals \
(`axis=2-1`, `axis=[0, 2]`).\n\n";

#[test]
fn docs_builtins_md_is_the_table() {
    let expected = format!("{HEADER}{}", builtin_table::markdown());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/builtins.md");
    if std::env::var_os("GRADLANG_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "docs/builtins.md is out of date: run GRADLANG_BLESS=1 cargo test --test builtin_table"
    );
}

/// Every name of the table is known to the checker: used as a value, it is
/// reported as a function.
#[test]
fn every_builtin_is_known_to_the_checker() {
    for b in gradlang::check::BUILTINS {
        let src = format!("dim N = 2\ninput x: [N] = zeros\ny = {}\n", b.name);
        let (_, checked) = gradlang::check::check_source(&src);
        let message = &checked.diagnostics[0].message;
        assert_eq!(
            message,
            &format!("`{}` is a function, not a tensor", b.name)
        );
    }
}

/// `docs/training.md` shows the `train` options, optimizers and schedules as
/// the checker's one table of them defines them.
#[test]
fn docs_training_md_has_the_training_tables() {
    const START: &str = "<!-- generated from src/check/train/spec.rs: GRADLANG_BLESS=1 cargo test --test builtin_table -->\n";
    const END: &str = "<!-- end of generated tables -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/training.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = text.split_once(START).expect("the start marker");
    let (_, after) = rest.split_once(END).expect("the end marker");
    let expected = format!(
        "{before}{START}{}{END}{after}",
        gradlang::check::train::spec::markdown()
    );
    if std::env::var_os("GRADLANG_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        expected,
        "docs/training.md is out of date: run GRADLANG_BLESS=1 cargo test --test builtin_table"
    );
}
