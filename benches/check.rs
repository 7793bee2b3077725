//! Parse and check time of a generated 10,000-line program (the checker runs on
//! every keystroke in an editor). Prints medians; fails on nothing.
//!
//!     cargo bench --bench check

use std::time::{Duration, Instant};

/// A 10,000-line program exercising layers, matmuls, broadcasting, reductions
/// and derivatives.
pub fn generate(lines: usize) -> String {
    let mut src = String::new();
    src.push_str("dim N = 64, D = 128, H = 256, C = 10\n");
    src.push_str("layer Dense[I, O](x: [B, I]) -> [B, O] {\n  param W: [I, O] = normal(0, sqrt(2 / I))\n  param b: [O] = zeros\n  return relu(x @ W + b)\n}\n");
    src.push_str("input x: [N, D] = normal(0, 1)\ninput t: [N] int = zeros\nparam W: [D, D] = normal(0, 0.01)\nparam b: [D] = zeros\n");
    src.push_str("fc = Dense[D, H]\nout = Dense[H, C]\nh0 = x\n");
    let mut i = 0;
    let mut count = src.lines().count();
    while count < lines {
        i += 1;
        let prev = i - 1;
        match i % 10 {
            0 => src.push_str(&format!("g{i} = grad(sum(h{prev} * h{prev}), W)\n")),
            3 => src.push_str(&format!("s{i} = softmax(h{prev} @ W.T, axis=-1)\n")),
            5 => src.push_str(&format!("l{i} = cross_entropy(out(fc(h{prev})), t)\n")),
            7 => src.push_str(&format!(
                "m{i} = mean(h{prev}, axis=[0], keepdims=true) + reshape(h{prev}, [N, D])\n"
            )),
            _ => count -= 1,
        }
        src.push_str(&format!("h{i} = tanh(h{prev} @ W + b) # layer {i}\n"));
        count += 2;
    }
    src
}

/// `lines` lines that are each a syntax error (error recovery on every line).
pub fn erroneous(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            format!("x{i} = ((( + * {i} ] @@ sum(x, axis=1) + relu(y @ W.T) * 0.5 - tanh(z) ]\n")
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let src = generate(10_000);
    let lines = src.lines().count();
    let mut parse_times = Vec::new();
    let mut total_times = Vec::new();
    // GRADLANG_BENCH_RUNS=1 for a single run (e.g. under callgrind).
    let runs: usize = std::env::var("GRADLANG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    for _ in 0..runs {
        let t0 = Instant::now();
        let parsed = gradlang::syntax::parse(&src);
        let t1 = Instant::now();
        let checked = gradlang::check::check(&parsed.program, &src);
        let t2 = Instant::now();
        assert!(
            parsed.diagnostics.is_empty() && !checked.has_errors(),
            "generated program must check clean"
        );
        parse_times.push(t1 - t0);
        total_times.push(t2 - t0);
    }
    let (p, t) = (median(parse_times), median(total_times));
    println!(
        "parse + check of a {lines}-line program ({} bytes), median of 15:",
        src.len()
    );
    println!("  parse          {:>8.2} ms", p.as_secs_f64() * 1e3);
    println!("  check          {:>8.2} ms", (t - p).as_secs_f64() * 1e3);
    println!(
        "  parse + check  {:>8.2} ms   (target: under 50 ms)",
        t.as_secs_f64() * 1e3
    );

    // Error recovery: parse, check and render a file that is all syntax errors.
    let bad = erroneous(4_000);
    let (mut checks, mut renders) = (Vec::new(), Vec::new());
    for _ in 0..runs.min(5) {
        let t0 = Instant::now();
        let (_, checked) = gradlang::check::check_source(&bad);
        let t1 = Instant::now();
        let text =
            gradlang::diagnostics::render_human(&checked.diagnostics, "bad.grad", &bad, false);
        renders.push(t1.elapsed());
        checks.push(t1 - t0);
        assert!(checked.diagnostics.len() >= 4_000 && !text.is_empty());
    }
    println!(
        "4,000 erroneous lines ({} bytes), median of {}:",
        bad.len(),
        checks.len()
    );
    println!(
        "  parse + check  {:>8.2} ms",
        median(checks).as_secs_f64() * 1e3
    );
    println!(
        "  human render   {:>8.2} ms",
        median(renders).as_secs_f64() * 1e3
    );
}
