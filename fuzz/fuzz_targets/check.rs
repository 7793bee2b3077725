//! Parse + check any text, then render its diagnostics both ways: nothing may
//! panic, every diagnostic of the checker has a place inside the text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (_, checked) = gradlang::check::check_source(src);
    for d in &checked.diagnostics {
        let span = d.span.expect("a checker diagnostic has a place");
        assert!(span.start <= span.end && span.end <= src.len(), "{d:?}");
    }
    let _ = gradlang::diagnostics::render_human(&checked.diagnostics, "f.grad", src, false);
    let _ = gradlang::diagnostics::diagnostics_to_json(&checked.diagnostics, "f.grad", src);
});
