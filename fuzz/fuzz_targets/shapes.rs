//! Structure-aware: small well-typed programs built from the fuzzer's bytes
//! (elementwise ops, broadcasting, reductions, matrix products, transposes,
//! a grad), checked, then run. Asserts: the checker accepts them; every
//! binding's value has the shape `check` assigned (dimensions substituted);
//! reverse mode agrees with finite differences (`gradcheck`, within what
//! differences can resolve for the loss's magnitude).
//!
//! Axes written as arithmetic (`axis=2-1`) are generated only with
//! GRADLANG_FUZZ_AXIS_ARITH=1: lowering mishandled them before the front-end
//! rewrite (issue 8); a run with them on found check and run in agreement
//! (fuzz/README.md).
#![no_main]
use arbitrary::Unstructured;
use gradlang::graph::Value;
use gradlang::run::{self, Precision, RunOptions};
use libfuzzer_sys::fuzz_target;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// [N, M]
    Nm,
    /// [N]
    N,
    /// [M]
    M,
    /// []
    Scalar,
    /// [N, K]
    Nk,
    /// [M, N]
    Mn,
}

struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    bindings: Vec<(String, Shape)>,
    axis_arith: bool,
}

impl Gen<'_, '_> {
    fn pick(&mut self, n: usize) -> usize {
        self.u.choose_index(n).unwrap_or(0)
    }

    fn axis(&mut self, k: usize) -> String {
        if self.axis_arith && self.pick(2) == 1 {
            format!("{} - 1", k + 1)
        } else {
            k.to_string()
        }
    }

    /// An expression of shape `s`, at most `depth` levels deep.
    fn expr(&mut self, s: Shape, depth: usize) -> String {
        let known: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, b)| *b == s)
            .map(|(n, _)| n.clone())
            .collect();
        if depth == 0 || self.pick(4) == 0 {
            return self.leaf(s, &known);
        }
        let d = depth - 1;
        match s {
            Shape::Nm => match self.pick(9) {
                0 => format!("({} + {})", self.expr(s, d), self.expr(s, d)),
                1 => format!("({} - {})", self.expr(s, d), self.expr(s, d)),
                2 => format!("({} * {})", self.expr(s, d), self.expr(s, d)),
                3 => format!("tanh({})", self.expr(s, d)),
                4 => format!("({} + {})", self.expr(s, d), self.expr(Shape::M, d)),
                5 => format!("({} * {})", self.expr(Shape::Scalar, d), self.expr(s, d)),
                6 => format!("{}.T", self.expr(Shape::Mn, d)),
                7 => format!("exp(0.1 * {})", self.expr(s, d)),
                _ => format!("({} @ V)", self.expr(Shape::Nk, d)),
            },
            Shape::Mn => match self.pick(2) {
                0 => {
                    let e = self.expr(Shape::Nm, d);
                    format!("transpose({e}, [{}, 0])", self.axis(1))
                }
                _ => format!("({} * 2)", self.expr(s, d)),
            },
            Shape::N => match self.pick(4) {
                0 => format!("sum({}, axis={})", self.expr(Shape::Nm, d), self.axis(1)),
                1 => format!("mean({}, axis={})", self.expr(Shape::Nm, d), self.axis(1)),
                2 => format!("({} * {})", self.expr(s, d), self.expr(s, d)),
                _ => format!("sum({}, axis=0)", self.expr(Shape::Mn, d)),
            },
            Shape::M => match self.pick(3) {
                0 => format!("sum({}, axis={})", self.expr(Shape::Nm, d), self.axis(0)),
                1 => format!("({} - {})", self.expr(s, d), self.expr(s, d)),
                _ => format!("({} @ {})", self.expr(Shape::N, d), self.expr(Shape::Nm, d)),
            },
            Shape::Scalar => match self.pick(4) {
                0 => format!("sum({})", self.expr(Shape::Nm, d)),
                1 => format!("mean({})", self.expr(Shape::N, d)),
                2 => format!("({} @ {})", self.expr(Shape::M, d), self.expr(Shape::M, d)),
                _ => format!("({} * {})", self.expr(s, d), self.expr(s, d)),
            },
            Shape::Nk => match self.pick(2) {
                0 => format!("({} @ W.T)", self.expr(Shape::Nm, d)),
                _ => format!("tanh({})", self.expr(s, d)),
            },
        }
    }

    fn leaf(&mut self, s: Shape, known: &[String]) -> String {
        if !known.is_empty() && self.pick(2) == 0 {
            return known[self.pick(known.len())].clone();
        }
        match s {
            Shape::Nm => ["x", "y"][self.pick(2)].to_string(),
            Shape::N => "t".to_string(),
            Shape::M => "v".to_string(),
            Shape::Scalar => "0.5".to_string(),
            Shape::Nk => "(x @ W.T)".to_string(),
            Shape::Mn => "x.T".to_string(),
        }
    }
}

fn program(u: &mut Unstructured<'_>, axis_arith: bool) -> String {
    let dims: Vec<usize> = (0..3)
        .map(|_| u.int_in_range(1..=3).unwrap_or(2))
        .collect();
    let mut src = format!(
        "dim N = {}, M = {}, K = {}\n\
         input x: [N, M] = normal(0, 1)\n\
         input y: [N, M] = normal(0, 1)\n\
         input t: [N] = uniform(-1, 1)\n\
         input v: [M] = normal(0, 1)\n\
         param W: [K, M] = normal(0, 1)\n\
         param V: [K, M] = normal(0, 1)\n",
        dims[0], dims[1], dims[2]
    );
    let mut g = Gen {
        u,
        bindings: Vec::new(),
        axis_arith,
    };
    let count = 1 + g.pick(5);
    for i in 0..count {
        let s = [Shape::Nm, Shape::N, Shape::M, Shape::Scalar, Shape::Nk, Shape::Mn][g.pick(6)];
        let e = g.expr(s, 3);
        src.push_str(&format!("b{i} = {e}\n"));
        g.bindings.push((format!("b{i}"), s));
    }
    let last = &g.bindings[g.bindings.len() - 1].0;
    src.push_str(&format!("L = sum({last} * {last})\n"));
    let wrt = ["x", "W", "v"][g.pick(3)];
    src.push_str(&format!("g = grad(L, {wrt})\n"));
    src
}

fuzz_target!(|data: &[u8]| {
    let axis_arith = std::env::var_os("GRADLANG_FUZZ_AXIS_ARITH").is_some();
    let mut u = Unstructured::new(data);
    let src = program(&mut u, axis_arith);
    let (_, checked) = gradlang::check::check_source(&src);
    assert!(
        !checked.has_errors(),
        "a well-typed program was refused:\n{src}\n{:?}",
        checked.diagnostics
    );
    let mut opts = RunOptions {
        dims: Vec::new(),
        supplied: Vec::new(),
        seed: 7,
        precision: Precision::F64,
        max_jacobian_bytes: 1 << 20,
    };
    let prepared = run::prepare(&checked, &opts)
        .unwrap_or_else(|e| panic!("prepare failed:\n{src}\n{:?}", e.diagnostics));
    let leaves = run::leaf_values::<f64>(&prepared, &mut opts).expect("initializers");
    let nodes: Vec<_> = prepared.lowered.outputs.iter().map(|o| o.node).collect();
    let values = run::evaluate_nodes(&prepared, &leaves, &nodes)
        .unwrap_or_else(|e| panic!("evaluation failed:\n{src}\n{:?}", e.diagnostics));
    for (output, value) in prepared.lowered.outputs.iter().zip(&values) {
        let Some(b) = checked.bindings.iter().find(|b| b.name == output.name) else {
            continue;
        };
        let value_of = |id| {
            prepared
                .dims
                .get(checked.dims.name(id))
                .map(|v| *v as i64)
        };
        let expected: Vec<Option<i128>> = b.ty.shape.iter().map(|p| p.eval(&value_of)).collect();
        let actual: Vec<Option<i128>> = match value {
            Value::Float(a) => a.shape().iter().map(|&d| Some(d as i128)).collect(),
            Value::Int(a) => a.shape().iter().map(|&d| Some(d as i128)).collect(),
        };
        assert_eq!(
            expected, actual,
            "`{}`: check and run disagree on the shape\n{src}",
            output.name
        );
    }
    // Central differences in f64 resolve L only to about 1e-16 * |L| / eps:
    // a derivative is held to that where L is huge (x^32 terms), else it
    // would be the oracle failing, not reverse mode.
    let loss_node = prepared.lowered.named["L"];
    let loss = match &run::evaluate_nodes(&prepared, &leaves, &[loss_node]).expect("L")[0] {
        Value::Float(a) => a.iter().map(|v| v.abs()).sum::<f64>(),
        Value::Int(_) => 0.0,
    };
    if !loss.is_finite() {
        // The generated program overflows (x^32 under exp): gradcheck rightly
        // refuses to pass it; there is nothing to compare.
        return;
    }
    let resolution = 1e-16 * loss / run::gradcheck::EPS * 100.0;
    let results = run::gradcheck::gradcheck(&prepared, &leaves, 7, 2)
        .unwrap_or_else(|e| panic!("gradcheck failed to run:\n{src}\n{:?}", e.diagnostics));
    for r in &results {
        assert!(
            r.passed || (!r.non_finite && r.max_abs_error <= resolution),
            "reverse mode and finite differences disagree (rel {:e}, abs {:e}):\n{src}",
            r.max_rel_error, r.max_abs_error
        );
    }
});
