//! Parse + check + human rendering stay linear in the number of syntax errors
//! (issue 9). A test binary of its own, so that no other test's threads or
//! subprocesses run beside the timings it compares.

use gradlang::check::check_source;
use gradlang::diagnostics::render_human;
use std::time::{Duration, Instant};

fn check_erroneous_lines(lines: usize) -> Duration {
    let src: String = (0..lines)
        .map(|i| format!("y{i} = x +{}\n", " ".repeat(200)))
        .collect();
    let t0 = Instant::now();
    let (_, checked) = check_source(&src);
    assert!(checked.diagnostics.len() >= lines);
    let text = render_human(&checked.diagnostics, "p.grad", &src, false);
    assert!(!text.is_empty());
    t0.elapsed()
}

#[test]
fn checking_and_rendering_are_linear_in_the_number_of_errors() {
    // Quadratic behaviour would make 4x the lines take 16x the time (it took
    // 19 s for 4,000 such lines); linear 4x. Best of three of each, to be
    // robust against a busy machine.
    let best = |n| (0..3).map(|_| check_erroneous_lines(n)).min().unwrap();
    let small = best(500);
    let large = best(2_000);
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-4);
    assert!(
        ratio < 9.0,
        "500 error lines: {small:?}, 2,000: {large:?} (x{ratio:.1})"
    );
}
