//! Arbitrary bytes and arbitrary token soups never panic the parser or checker.

use gradlang::check::check_source;
use proptest::prelude::*;

/// Parsing and checking recurse over the tree: run them with the stack the
/// CLI gives them (it uses a 256 MiB thread; 64 MiB is plenty here).
fn check_in_big_stack(src: String) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let (_, checked) = check_source(&src);
            // Diagnostics must point inside the text.
            for d in &checked.diagnostics {
                // ...and every problem the checker finds has a place.
                let span = d.span.unwrap_or_else(|| panic!("no place: {d:?}"));
                assert!(span.start <= span.end && span.end <= src.len(), "{d:?}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

const TOKENS: &[&str] = &[
    "dim",
    "input",
    "param",
    "layer",
    "return",
    "loss",
    "assert",
    "int",
    "true",
    "false",
    "N",
    "D",
    "x",
    "W",
    "fc1",
    "Dense",
    "grad",
    "jacobian",
    "vjp",
    "jvp",
    "hessian",
    "sum",
    "reshape",
    "transpose",
    "softmax",
    "close",
    "cross_entropy",
    "one_hot",
    "tensordot",
    "zeros",
    "normal",
    "=",
    ":",
    ",",
    ";",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "->",
    "+",
    "-",
    "*",
    "/",
    "@",
    "**",
    ".",
    ".T",
    "axis",
    "keepdims",
    "0",
    "1",
    "2.5",
    "-1",
    "1e-3",
    "#c\n",
    "\n",
    " ",
    "é",
    "∂",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        check_in_big_stack(s);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        check_in_big_stack(tokens.join(" "));
    }

    #[test]
    fn mutated_examples_never_panic(cut in 0usize..2000, insert in prop::sample::select(TOKENS)) {
        let text = include_str!("../examples/mlp.grad");
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        check_in_big_stack(format!("{}{}{}", &text[..at], insert, &text[at..]));
    }
}

#[test]
fn pathological_nesting_is_refused_not_overflowed() {
    for src in [
        "y = ".to_string() + &"(".repeat(100_000),
        "y = ".to_string() + &"-".repeat(100_000) + "x",
        "y = x".to_string() + &" ** x".repeat(50_000),
        "y = x".to_string() + &" + x".repeat(50_000),
        "y = ".to_string() + &"[".repeat(100_000),
        "layer L[".to_string() + &"(".repeat(100_000),
    ] {
        check_in_big_stack(src);
    }
}

/// A file that parses whole takes a fast path; one with an error is parsed
/// statement by statement. Both must build the same tree for the same statements.
#[test]
fn fast_and_recovering_parses_agree() {
    for path in std::fs::read_dir("examples")
        .unwrap()
        .chain(std::fs::read_dir("tests/programs").unwrap())
    {
        let path = path.unwrap().path();
        if path.extension().is_none_or(|e| e != "grad") {
            continue; // examples/data/
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let fast = gradlang::syntax::parse(&src);
        assert!(fast.diagnostics.is_empty(), "{}", path.display());
        // A broken last statement forces the recovering parser.
        let slow = gradlang::syntax::parse(&format!("{src}\nbroken = )\n"));
        assert_eq!(slow.diagnostics.len(), 1, "{}", path.display());
        assert_eq!(fast.program, slow.program, "{}", path.display());
    }
}
