//! The contract between `check` and `run` (issue 8): for random well-typed
//! programs, the checker reports no error, the shape it assigns to every
//! top-level binding (symbolic, with the run's dimension values substituted) is
//! exactly the shape the run produces, and every `grad`/`vjp`/`jvp` passes
//! gradcheck in f64. Plus the issue's four programs, run through the CLI, with
//! their values.
//!
//! The generator is type-directed: `Gen::expr(shape, depth)` writes an
//! expression of the requested symbolic shape, choosing among rules that can
//! produce it (elementwise functions, broadcasting arithmetic, reductions with
//! axes written as arithmetic, keepdims, softmax-family, matrix products,
//! transposes, reshapes, tensordot, layer calls), and declares inputs on
//! demand. Its choices come from a tape of numbers that proptest shrinks towards
//! zero, and choice 0 is always the simplest (a leaf), so a failing program
//! shrinks to a small one.

use assert_cmd::Command;
use gradlang::check::check_source;
use gradlang::check::dims::DimId;
use gradlang::graph::Value;
use gradlang::run::{self, Precision, RunOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

// ------------------------------------------------------------------ generator

/// The global dimensions of every generated program.
const NAMES: [&str; 3] = ["N", "M", "K"];

/// A dimension expression: a product of global dimensions (sorted indices into
/// [`NAMES`]); the empty product is the literal `1`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dim(Vec<usize>);

impl Dim {
    fn one() -> Dim {
        Dim(Vec::new())
    }

    fn var(i: usize) -> Dim {
        Dim(vec![i])
    }

    fn times(&self, other: &Dim) -> Dim {
        let mut v = self.0.clone();
        v.extend_from_slice(&other.0);
        v.sort_unstable();
        Dim(v)
    }

    fn is_one(&self) -> bool {
        self.0.is_empty()
    }

    fn render(&self) -> String {
        if self.0.is_empty() {
            "1".to_string()
        } else {
            let names: Vec<&str> = self.0.iter().map(|&i| NAMES[i]).collect();
            names.join(" * ")
        }
    }

    fn value(&self, dims: &[usize; 3]) -> usize {
        self.0.iter().map(|&i| dims[i]).product()
    }
}

type Shape = Vec<Dim>;

fn render_shape(s: &[Dim]) -> String {
    let parts: Vec<String> = s.iter().map(Dim::render).collect();
    format!("[{}]", parts.join(", "))
}

fn concrete(s: &[Dim], dims: &[usize; 3]) -> Vec<usize> {
    s.iter().map(|d| d.value(dims)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VarKind {
    /// An `input` with a `normal(0, 1)` initializer: safe under `exp`.
    Input,
    Param,
    InstanceParam,
    Binding,
}

#[derive(Clone, Debug)]
struct Var {
    name: String,
    shape: Shape,
    kind: VarKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LayerKind {
    /// `Dense[I, O]`: `[B, I] -> [B, O]`.
    Dense,
    /// `Two[I, H, O]`: a nested `Dense[I, H]` then a product with `W: [H, O]`.
    Two,
    /// `Center`: no dimension parameters, `[B, F] -> [B, F]`.
    Center,
}

struct Instance {
    name: String,
    kind: LayerKind,
    /// Input and output feature dimensions (unused for `Center`).
    input: Dim,
    output: Dim,
}

// No constant initializers: `max(fc.b)` of a constant `b` is all ties, where
// the derivative (split evenly, SPEC) is a subgradient that central differences
// along a random direction do not reproduce.
const LAYERS: &str = "\
layer Dense[I, O](x: [B, I]) -> [B, O] {
  param W: [I, O] = normal(0, 0.5)
  param b: [O] = normal(0, 0.1)
  return tanh(x @ W + b)
}

layer Two[I, H, O](x: [B, I]) -> [B, O] {
  inner = Dense[I, H]
  param W: [H, O] = normal(0, sqrt(2 / H))
  h = inner(x)
  return sigmoid(h) @ W
}

layer Center(x: [B, F]) -> [B, F] {
  return x - mean(x, axis=2 - 1, keepdims=true)
}
";

/// A generated program and what the generator knows about it.
struct Program {
    text: String,
    dims: [usize; 3],
    /// Every top-level binding and the shape the generator built it to have
    /// (the SPEC's rules, applied by construction).
    bindings: Vec<(String, Shape)>,
}

struct Gen<'a> {
    tape: &'a [u32],
    pos: usize,
    dims: [usize; 3],
    decls: Vec<String>,
    instance_decls: Vec<String>,
    instances: Vec<Instance>,
    stmts: Vec<String>,
    vars: Vec<Var>,
    bindings: Vec<(String, Shape)>,
    counter: usize,
}

/// Largest rank the generator builds (keeps every tensor tiny).
const MAX_RANK: usize = 4;

impl<'a> Gen<'a> {
    fn new(tape: &'a [u32], dims: [usize; 3]) -> Self {
        Gen {
            tape,
            pos: 0,
            dims,
            decls: Vec::new(),
            instance_decls: Vec::new(),
            instances: Vec::new(),
            stmts: Vec::new(),
            vars: Vec::new(),
            bindings: Vec::new(),
            counter: 0,
        }
    }

    /// The next choice in `0..n`; 0 once the tape is exhausted.
    fn choose(&mut self, n: usize) -> usize {
        let v = self.tape.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v as usize % n.max(1)
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    /// Mostly a single dimension, sometimes a product or the literal 1.
    fn dim(&mut self) -> Dim {
        match self.choose(10) {
            0..=6 => Dim::var(self.choose(3)),
            7 | 8 => Dim::var(self.choose(3)).times(&Dim::var(self.choose(3))),
            _ => Dim::one(),
        }
    }

    fn single_dim(&mut self) -> Dim {
        Dim::var(self.choose(3))
    }

    fn shape(&mut self, min_rank: usize, max_rank: usize) -> Shape {
        let rank = min_rank + self.choose(max_rank - min_rank + 1);
        (0..rank).map(|_| self.dim()).collect()
    }

    /// A non-negative integer written as arithmetic: `2`, `3 - 1`, `1 + 1`, `2 * 1`.
    fn arith(&mut self, a: usize) -> String {
        match self.choose(4) {
            0 => a.to_string(),
            1 => format!("{} - 1", a + 1),
            2 if a >= 1 => format!("{} + 1", a - 1),
            3 => format!("{a} * 1"),
            _ => format!("{} - {}", a + 2, 2),
        }
    }

    /// Axis `a` of a rank-`rank` tensor, as arithmetic, sometimes negative.
    fn axis(&mut self, a: usize, rank: usize) -> String {
        match self.choose(3) {
            0 | 1 => self.arith(a),
            _ => {
                let neg = rank - a;
                if self.choose(2) == 0 {
                    format!("-{neg}")
                } else {
                    format!("1 - {}", neg + 1)
                }
            }
        }
    }

    fn axes(&mut self, axes: &[usize], rank: usize) -> String {
        if axes.len() == 1 && self.choose(2) == 0 {
            return self.axis(axes[0], rank);
        }
        let mut order: Vec<usize> = axes.to_vec();
        if self.choose(2) == 1 {
            order.reverse();
        }
        let parts: Vec<String> = order.iter().map(|&a| self.axis(a, rank)).collect();
        format!("[{}]", parts.join(", "))
    }

    /// A new input (or param) of shape `s`.
    fn declare(&mut self, s: &[Dim], param: bool) -> String {
        let (name, kind, line) = if param {
            let name = self.fresh("w");
            let init = match self.choose(3) {
                0 => "normal(0, 1)",
                1 => "uniform(-1, 1)",
                _ => "normal(0.5, sqrt(1 / N))",
            };
            let line = format!("param {name}: {} = {init}", render_shape(s));
            (name, VarKind::Param, line)
        } else {
            let name = self.fresh("x");
            let line = format!("input {name}: {} = normal(0, 1)", render_shape(s));
            (name, VarKind::Input, line)
        };
        self.decls.push(line);
        self.vars.push(Var {
            name: name.clone(),
            shape: s.to_vec(),
            kind,
        });
        name
    }

    /// An input of shape `s` (values ~ N(0, 1)): existing or new.
    fn input(&mut self, s: &[Dim]) -> String {
        let existing: Vec<String> = self
            .vars
            .iter()
            .filter(|v| v.kind == VarKind::Input && v.shape == s)
            .map(|v| v.name.clone())
            .collect();
        if !existing.is_empty() && self.choose(2) == 1 {
            let i = self.choose(existing.len());
            return existing[i].clone();
        }
        self.declare(s, false)
    }

    /// A name of shape `s`: any tensor in scope, or a new input or param.
    fn leaf(&mut self, s: &[Dim]) -> String {
        let existing: Vec<String> = self
            .vars
            .iter()
            .filter(|v| v.shape == s)
            .map(|v| v.name.clone())
            .collect();
        match self.choose(4) {
            0 => self.declare(s, false),
            1 => self.declare(s, true),
            _ if !existing.is_empty() => {
                let i = self.choose(existing.len());
                existing[i].clone()
            }
            _ => self.declare(s, false),
        }
    }

    /// An expression of shape `s`.
    fn expr(&mut self, s: &[Dim], depth: usize) -> String {
        if depth == 0 {
            return self.leaf(s);
        }
        let d = depth - 1;
        let r = s.len();
        #[derive(Clone, Copy)]
        enum Rule {
            Leaf,
            Unary,
            Exp,
            Positive,
            Binary,
            Div,
            ScalarOp,
            Pow,
            Reduce,
            KeepDims,
            WholeReduce,
            LogSumExp,
            Softmax,
            MatMul,
            Transpose,
            Reshape,
            TensorDot,
            Layer,
            Center,
        }
        let mut rules = vec![
            Rule::Leaf,
            Rule::Unary,
            Rule::Unary,
            Rule::Exp,
            Rule::Positive,
            Rule::Binary,
            Rule::Binary,
            Rule::Div,
            Rule::ScalarOp,
            Rule::Pow,
            Rule::TensorDot,
        ];
        if r < MAX_RANK {
            rules.extend([Rule::Reduce, Rule::Reduce, Rule::LogSumExp]);
        }
        if s.iter().any(Dim::is_one) {
            rules.extend([Rule::KeepDims, Rule::KeepDims]);
        }
        if r == 0 {
            rules.extend([Rule::WholeReduce, Rule::WholeReduce]);
        }
        if r >= 1 {
            rules.extend([Rule::Softmax, Rule::Reshape]);
        }
        if r <= 3 {
            rules.extend([Rule::MatMul, Rule::MatMul]);
        }
        if r >= 2 {
            rules.extend([Rule::Transpose, Rule::Transpose]);
        }
        if r == 2 {
            rules.extend([Rule::Layer, Rule::Layer, Rule::Layer, Rule::Center]);
        }
        let rule = rules[self.choose(rules.len())];
        match rule {
            Rule::Leaf => self.leaf(s),
            Rule::Unary => {
                let f =
                    ["tanh", "sigmoid", "relu", "abs", "sin", "cos", "neg", "-"][self.choose(8)];
                let a = self.expr(s, d);
                if f == "-" {
                    format!("(-{a})")
                } else {
                    format!("{f}({a})")
                }
            }
            Rule::Exp => {
                if self.choose(2) == 0 {
                    let a = self.input(s);
                    format!("exp({a})")
                } else {
                    let a = self.expr(s, d);
                    format!("exp(tanh({a}))")
                }
            }
            Rule::Positive => match self.choose(4) {
                0 => {
                    let a = self.input(s);
                    format!("log(exp({a}))")
                }
                1 => {
                    let a = self.expr(s, d);
                    format!("log({a} * {a} + 1)")
                }
                2 => {
                    let a = self.expr(s, d);
                    format!("sqrt({a} * {a} + 0.5)")
                }
                _ => {
                    let a = self.expr(s, d);
                    format!("sqrt(exp(tanh({a})))")
                }
            },
            Rule::Binary => {
                let (ls, rs) = self.broadcast_pair(s);
                let op = ["+", "-", "*"][self.choose(3)];
                let a = self.expr(&ls, d);
                let b = self.expr(&rs, d);
                if self.choose(2) == 0 {
                    format!("({a} {op} {b})")
                } else {
                    format!("({b} {op} {a})")
                }
            }
            Rule::Div => {
                let (ls, rs) = self.broadcast_pair(s);
                let (ls, rs) = if self.choose(2) == 0 {
                    (ls, rs)
                } else {
                    (rs, ls)
                };
                let a = self.expr(&ls, d);
                let b = self.expr(&rs, d);
                if self.choose(2) == 0 {
                    format!("({a} / ({b} * {b} + 1))")
                } else {
                    format!("({a} / (1 + exp(tanh({b}))))")
                }
            }
            Rule::ScalarOp => {
                let a = self.expr(s, d);
                match self.choose(5) {
                    0 => format!("({a} * 0.5)"),
                    1 => format!("(1.5 - {a})"),
                    2 => format!("({a} / N)"),
                    3 => format!("({a} * M)"),
                    _ => format!("(K + {a})"),
                }
            }
            Rule::Pow => {
                let a = self.expr(s, d);
                let p = 2 + self.choose(2);
                format!("({a} ** {p})")
            }
            Rule::Reduce => {
                let count = if r + 2 <= MAX_RANK && self.choose(3) == 0 {
                    2
                } else {
                    1
                };
                let mut t: Shape = s.to_vec();
                let mut positions = Vec::new();
                for _ in 0..count {
                    let p = self.choose(t.len() + 1);
                    let dim = self.dim();
                    t.insert(p, dim);
                    for q in positions.iter_mut() {
                        if *q >= p {
                            *q += 1;
                        }
                    }
                    positions.push(p);
                }
                positions.sort_unstable();
                let op = ["sum", "mean", "max", "min"][self.choose(4)];
                let a = self.expr(&t, d);
                let axes = self.axes(&positions, t.len());
                if self.choose(3) == 0 {
                    format!("{op}({a}, axis={axes}, keepdims=false)")
                } else {
                    format!("{op}({a}, axis={axes})")
                }
            }
            Rule::KeepDims => {
                let ones: Vec<usize> = (0..r).filter(|&i| s[i].is_one()).collect();
                let mut chosen: Vec<usize> = ones
                    .iter()
                    .copied()
                    .filter(|_| self.choose(2) == 0)
                    .collect();
                if chosen.is_empty() {
                    chosen.push(ones[self.choose(ones.len())]);
                }
                let mut t: Shape = s.to_vec();
                for &i in &chosen {
                    t[i] = self.single_dim();
                }
                let ops: &[&str] = if chosen.len() == 1 {
                    &["sum", "mean", "max", "min", "logsumexp"]
                } else {
                    &["sum", "mean", "max", "min"]
                };
                let op = ops[self.choose(ops.len())];
                let a = self.expr(&t, d);
                let axes = self.axes(&chosen, r);
                format!("{op}({a}, axis={axes}, keepdims=true)")
            }
            Rule::WholeReduce => {
                let t = self.shape(1, 3);
                let op = ["sum", "mean", "max", "min"][self.choose(4)];
                let a = self.expr(&t, d);
                format!("{op}({a})")
            }
            Rule::LogSumExp => {
                let p = self.choose(r + 1);
                let mut t: Shape = s.to_vec();
                let dim = self.dim();
                t.insert(p, dim);
                let a = self.expr(&t, d);
                if p == r && self.choose(3) == 0 {
                    format!("logsumexp({a})")
                } else {
                    let axis = self.axis(p, r + 1);
                    format!("logsumexp({a}, axis={axis})")
                }
            }
            Rule::Softmax => {
                let f = ["softmax", "log_softmax"][self.choose(2)];
                let a = self.expr(s, d);
                let p = self.choose(r);
                if p == r - 1 && self.choose(3) == 0 {
                    format!("{f}({a})")
                } else {
                    let axis = self.axis(p, r);
                    format!("{f}({a}, axis={axis})")
                }
            }
            Rule::MatMul => {
                let k = self.dim();
                match r {
                    0 => {
                        let a = self.expr(std::slice::from_ref(&k), d);
                        let b = self.expr(&[k], d);
                        format!("({a} @ {b})")
                    }
                    1 => match self.choose(3) {
                        0 => {
                            let a = self.expr(&[s[0].clone(), k.clone()], d);
                            let b = self.expr(&[k], d);
                            format!("({a} @ {b})")
                        }
                        1 => {
                            let a = self.expr(std::slice::from_ref(&k), d);
                            let b = self.expr(&[k, s[0].clone()], d);
                            format!("({a} @ {b})")
                        }
                        _ => {
                            let a = self.expr(&[k.clone(), s[0].clone()], d);
                            let b = self.expr(&[k], d);
                            format!("({a}.T @ {b})")
                        }
                    },
                    2 => {
                        let (m, n) = (s[0].clone(), s[1].clone());
                        match self.choose(3) {
                            0 => {
                                let a = self.expr(&[m, k.clone()], d);
                                let b = self.expr(&[k, n], d);
                                format!("({a} @ {b})")
                            }
                            1 => {
                                let a = self.expr(&[k.clone(), m], d);
                                let b = self.expr(&[k, n], d);
                                format!("({a}.T @ {b})")
                            }
                            _ => {
                                let a = self.expr(&[m, k.clone()], d);
                                let b = self.expr(&[n, k], d);
                                format!("({a} @ {b}.T)")
                            }
                        }
                    }
                    _ => {
                        let (p, m, n) = (s[0].clone(), s[1].clone(), s[2].clone());
                        match self.choose(3) {
                            0 => {
                                let a = self.expr(&[p, m, k.clone()], d);
                                let b = self.expr(&[k, n], d);
                                format!("({a} @ {b})")
                            }
                            1 => {
                                let a = self.expr(&[p.clone(), m, k.clone()], d);
                                let b = self.expr(&[p, k, n], d);
                                format!("({a} @ {b})")
                            }
                            _ => {
                                let a = self.expr(&[m, k.clone()], d);
                                let b = self.expr(&[p, n, k], d);
                                format!("({a} @ transpose({b}, [0, 2, 1]))")
                            }
                        }
                    }
                }
            }
            Rule::Transpose => {
                // (`.mT` is in the SPEC but not implemented yet: E0205.)
                match self.choose(2) {
                    0 => {
                        // `.T` reverses every axis.
                        let t: Shape = s.iter().rev().cloned().collect();
                        let a = self.expr(&t, d);
                        format!("{a}.T")
                    }
                    _ => {
                        // result axis i is axis perm[i] of the operand
                        let mut pool: Vec<usize> = (0..r).collect();
                        let mut perm = Vec::new();
                        while !pool.is_empty() {
                            let i = self.choose(pool.len());
                            perm.push(pool.remove(i));
                        }
                        let mut t: Shape = vec![Dim::one(); r];
                        for (i, &p) in perm.iter().enumerate() {
                            t[p] = s[i].clone();
                        }
                        let a = self.expr(&t, d);
                        let parts: Vec<String> = perm.iter().map(|&p| self.arith(p)).collect();
                        format!("transpose({a}, [{}])", parts.join(", "))
                    }
                }
            }
            Rule::Reshape => {
                // Regroup the factors of `s` into 1..=3 axes.
                let mut factors: Vec<usize> = s.iter().flat_map(|d| d.0.clone()).collect();
                let mut shuffled = Vec::new();
                while !factors.is_empty() {
                    let i = self.choose(factors.len());
                    shuffled.push(factors.remove(i));
                }
                let groups = 1 + self.choose(3);
                let mut t: Shape = vec![Dim::one(); groups];
                for f in shuffled {
                    let g = self.choose(groups);
                    t[g] = t[g].times(&Dim::var(f));
                }
                let a = self.expr(&t, d);
                // (The SPEC's inferred axis, `-1`, is not implemented yet:
                // E0313, so the target is always written out.)
                let target = render_shape(s);
                format!("reshape({a}, {target})")
            }
            Rule::TensorDot => {
                let k = 1 + self.choose(2);
                let split = self.choose(r + 1);
                if split + k > MAX_RANK || r - split + k > MAX_RANK {
                    return self.leaf(s);
                }
                let c: Shape = (0..k).map(|_| self.dim()).collect();
                let mut ta: Shape = s[..split].to_vec();
                ta.extend(c.iter().cloned());
                let mut tb: Shape = c;
                tb.extend(s[split..].iter().cloned());
                let a = self.expr(&ta, d);
                let b = self.expr(&tb, d);
                let count = self.arith(k);
                format!("tensordot({a}, {b}, {count})")
            }
            Rule::Layer => {
                let kind = if self.choose(2) == 1 {
                    LayerKind::Two
                } else {
                    LayerKind::Dense
                };
                let inst = self.instance(kind, &s[1]);
                let input = self.instances[inst].input.clone();
                let name = self.instances[inst].name.clone();
                let a = self.expr(&[s[0].clone(), input], d);
                format!("{name}({a})")
            }
            Rule::Center => {
                let inst = self.instance(LayerKind::Center, &Dim::one());
                let name = self.instances[inst].name.clone();
                let a = self.expr(s, d);
                format!("{name}({a})")
            }
        }
    }

    /// Two operand shapes that broadcast to `s`.
    fn broadcast_pair(&mut self, s: &[Dim]) -> (Shape, Shape) {
        let mut ls: Shape = s.to_vec();
        let mut rs: Shape = s.to_vec();
        for i in 0..s.len() {
            if s[i].is_one() {
                continue;
            }
            match self.choose(5) {
                0..=2 => {}
                3 => rs[i] = Dim::one(),
                _ => ls[i] = Dim::one(),
            }
        }
        // Shapes align at the right: leading 1s may be left out of one
        // operand (the other keeps the rank of `s`).
        match self.choose(3) {
            1 => {
                while rs.first().is_some_and(Dim::is_one) {
                    rs.remove(0);
                }
            }
            2 => {
                while ls.first().is_some_and(Dim::is_one) {
                    ls.remove(0);
                }
            }
            _ => {}
        }
        (ls, rs)
    }

    /// An instance of `kind` producing `output` features: an existing one or a
    /// new declaration.
    fn instance(&mut self, kind: LayerKind, output: &Dim) -> usize {
        let existing: Vec<usize> = (0..self.instances.len())
            .filter(|&i| {
                self.instances[i].kind == kind
                    && (kind == LayerKind::Center || self.instances[i].output == *output)
            })
            .collect();
        if !existing.is_empty() && self.choose(3) != 0 {
            return existing[self.choose(existing.len())];
        }
        let name = self.fresh("fc");
        let input = if kind == LayerKind::Center {
            Dim::one()
        } else {
            self.dim()
        };
        let (decl, params): (String, Vec<(String, Shape)>) = match kind {
            LayerKind::Dense => {
                let decl = if self.choose(2) == 0 {
                    format!("{name} = Dense[{}, {}]", input.render(), output.render())
                } else {
                    format!(
                        "{name} = Dense[O={}, I={}]",
                        output.render(),
                        input.render()
                    )
                };
                let params = vec![
                    ("W".to_string(), vec![input.clone(), output.clone()]),
                    ("b".to_string(), vec![output.clone()]),
                ];
                (decl, params)
            }
            LayerKind::Two => {
                let hidden = self.single_dim();
                let decl = format!(
                    "{name} = Two[{}, {}, {}]",
                    input.render(),
                    hidden.render(),
                    output.render()
                );
                let params = vec![
                    ("inner.W".to_string(), vec![input.clone(), hidden.clone()]),
                    ("inner.b".to_string(), vec![hidden.clone()]),
                    ("W".to_string(), vec![hidden, output.clone()]),
                ];
                (decl, params)
            }
            LayerKind::Center => (format!("{name} = Center[]"), Vec::new()),
        };
        self.instance_decls.push(decl);
        for (p, shape) in params {
            self.vars.push(Var {
                name: format!("{name}.{p}"),
                shape,
                kind: VarKind::InstanceParam,
            });
        }
        self.instances.push(Instance {
            name,
            kind,
            input,
            output: output.clone(),
        });
        self.instances.len() - 1
    }

    fn bind(&mut self, name: String, value: String, shape: Shape, in_scope: bool) {
        self.stmts.push(format!("{name} = {value}"));
        if in_scope {
            self.vars.push(Var {
                name: name.clone(),
                shape: shape.clone(),
                kind: VarKind::Binding,
            });
        }
        self.bindings.push((name, shape));
    }

    fn numel(&self, s: &[Dim]) -> usize {
        concrete(s, &self.dims).iter().product()
    }

    fn program(mut self) -> Program {
        // Bindings.
        let count = 1 + self.choose(4);
        let mut names = Vec::new();
        for i in 0..count {
            let shape = self.shape(0, 3);
            let depth = 1 + self.choose(4);
            let value = self.expr(&shape, depth);
            let name = format!("b{i}");
            self.bind(name.clone(), value, shape, true);
            names.push(name);
        }
        // The loss: bounded scalar terms of some bindings. Values inside may be
        // large (`x ** 3` of a product); central differences of a large value
        // lose about |value| * 1e-10 to rounding, which would fail gradcheck
        // for reasons that have nothing to do with gradlang. Squashing with
        // `tanh` keeps every differentiated value O(1) (where it saturates the
        // derivative is tiny and the absolute tolerance applies). The same
        // goes for the values and the directions of `vjp` and `jvp`.
        let mut terms = Vec::new();
        for name in &names {
            if terms.is_empty() || self.choose(2) == 0 {
                terms.push(match self.choose(3) {
                    0 => format!("mean(tanh({name}) * tanh({name}))"),
                    1 => format!("mean(sin(tanh({name})))"),
                    _ => format!("mean(tanh({name}))"),
                });
            }
        }
        self.stmts.push(format!("loss L = {}", terms.join(" + ")));
        self.bindings.push(("L".to_string(), Vec::new()));
        // Derivatives, with respect to leaves, instance parameters and bindings.
        let derivatives = 1 + self.choose(4);
        for i in 0..derivatives {
            let candidates: Vec<Var> = self.vars.clone();
            let v = candidates[self.choose(candidates.len())].clone();
            let ys: Vec<(String, Shape)> = self.bindings[..count].to_vec();
            let (y, y_shape) = ys[self.choose(ys.len())].clone();
            let name = format!("d{i}");
            match self.choose(6) {
                0 => {
                    let value = format!("grad(L, {})", v.name);
                    self.bind(name, value, v.shape, false);
                }
                1 => {
                    let dir = self.expr(&y_shape, 1);
                    let value = format!("vjp(tanh({y}), {}, tanh({dir}))", v.name);
                    self.bind(name, value, v.shape, false);
                }
                2 => {
                    let dir = self.expr(&v.shape, 1);
                    let value = format!("jvp(tanh({y}), {}, tanh({dir}))", v.name);
                    self.bind(name, value, y_shape, false);
                }
                3 => {
                    let x = &v.name;
                    let value = format!("grad(sum(grad(L, {x}) * grad(L, {x})), {x})");
                    self.bind(name, value, v.shape, false);
                }
                4 => {
                    // A Hessian of a small scalar.
                    let (x, xs) = if self.numel(&v.shape) <= 16 {
                        (v.name.clone(), v.shape.clone())
                    } else {
                        let xs = vec![self.single_dim()];
                        (self.declare(&xs, false), xs)
                    };
                    let value = if self.choose(2) == 0 {
                        format!("hessian(L, {x})")
                    } else {
                        format!("hessian(sum(tanh({x}) * {x}) + sum(sin({x})) ** 2, {x})")
                    };
                    let mut shape = xs.clone();
                    shape.extend(xs);
                    self.bind(name, value, shape, false);
                }
                _ => {
                    if self.numel(&y_shape) * self.numel(&v.shape) <= 512 {
                        let value = format!("jacobian({y}, {})", v.name);
                        let mut shape = y_shape;
                        shape.extend(v.shape);
                        self.bind(name, value, shape, false);
                    } else {
                        let value = format!("grad(L, {})", v.name);
                        self.bind(name, value, v.shape, false);
                    }
                }
            }
        }
        let dims = self.dims;
        let mut text = format!(
            "dim N = {}, M = {}, K = {}\n\n{LAYERS}\n",
            dims[0], dims[1], dims[2]
        );
        for line in self
            .instance_decls
            .iter()
            .chain(&self.decls)
            .chain(&self.stmts)
        {
            text.push_str(line);
            text.push('\n');
        }
        Program {
            text,
            dims,
            bindings: self.bindings,
        }
    }
}

fn generate(dims: [usize; 3], tape: &[u32]) -> Program {
    Gen::new(tape, dims).program()
}

// ------------------------------------------------------------------ property

/// Checks, runs and gradchecks one program; `Err` says what failed.
fn check_matches_run(p: &Program) -> Result<(), String> {
    let src = &p.text;
    let (_, checked) = check_source(src);
    if checked.has_errors() {
        let diags: Vec<String> = checked
            .diagnostics
            .iter()
            .map(|d| format!("{:?} {} at {:?}", d.code, d.message, d.span))
            .collect();
        return Err(format!("check reported errors:\n{}", diags.join("\n")));
    }
    let mut opts = RunOptions {
        dims: Vec::new(),
        supplied: Vec::new(),
        seed: 0,
        precision: Precision::F64,
        max_jacobian_bytes: gradlang::check::DEFAULT_MAX_JACOBIAN_BYTES,
    };
    let prepared = run::prepare(&checked, &opts).map_err(|e| format!("prepare: {e:?}"))?;
    for (i, name) in NAMES.iter().enumerate() {
        if prepared.dims.get(*name) != Some(&p.dims[i]) {
            return Err(format!(
                "dimension {name} bound to {:?}, declared {}",
                prepared.dims.get(*name),
                p.dims[i]
            ));
        }
    }
    let leaves =
        run::leaf_values::<f64>(&prepared, &mut opts).map_err(|e| format!("leaf values: {e:?}"))?;
    let outputs = &prepared.lowered.outputs;
    let nodes: Vec<_> = outputs.iter().map(|o| o.node).collect();
    let values =
        run::evaluate_nodes(&prepared, &leaves, &nodes).map_err(|e| format!("evaluate: {e:?}"))?;

    // The same bindings on both sides, in source order.
    let checked_names: Vec<&str> = checked.bindings.iter().map(|b| b.name.as_str()).collect();
    let run_names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
    if checked_names != run_names {
        return Err(format!(
            "check binds {checked_names:?} but run outputs {run_names:?}"
        ));
    }
    let generated: Vec<&str> = p.bindings.iter().map(|(n, _)| n.as_str()).collect();
    if checked_names != generated {
        return Err(format!(
            "check binds {checked_names:?}, the program {generated:?}"
        ));
    }
    let dim_value = |id: DimId| prepared.dims.get(checked.dims.name(id)).map(|&v| v as i64);
    for (((binding, value), output), (_, model)) in checked
        .bindings
        .iter()
        .zip(&values)
        .zip(outputs)
        .zip(&p.bindings)
    {
        let symbolic = checked.display(&binding.ty);
        let expected: Vec<usize> = binding
            .ty
            .shape
            .iter()
            .map(|d| {
                d.eval(&dim_value)
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or_else(|| {
                        format!(
                            "`{}`: {symbolic} has a dimension without a value",
                            binding.name
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        if expected != value.shape() {
            return Err(format!(
                "`{}`: check says {symbolic} = {expected:?}, run produced {:?}",
                output.name,
                value.shape()
            ));
        }
        // The SPEC's rules as the generator applied them agree too.
        let model = concrete(model, &p.dims);
        if expected != model {
            return Err(format!(
                "`{}`: check says {symbolic} = {expected:?}, the generator built {model:?}",
                binding.name
            ));
        }
        if let Value::Float(a) = value {
            if let Some(bad) = a.iter().find(|v| !v.is_finite()) {
                return Err(format!("`{}` has a non-finite value {bad}", binding.name));
            }
        }
    }

    // Every grad, vjp and jvp against finite differences.
    let results = run::gradcheck::gradcheck(&prepared, &leaves, 0, 2)
        .map_err(|e| format!("gradcheck: {e:?}"))?;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| {
            format!(
                "gradcheck failed: `{}` ({}): max relative error {:.3e}, max absolute error {:.3e}",
                &src[r.span.start..r.span.end],
                r.kind.name(),
                r.max_rel_error,
                r.max_abs_error
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        max_shrink_iters: 4096,
        failure_persistence: None,
        // 256 cases; more with PROPTEST_CASES=N (a longer search for bugs).
        ..ProptestConfig::with_cases(cases())
    })]

    #[test]
    fn generated_programs_check_run_and_gradcheck(
        dims in [1usize..=4, 1usize..=4, 1usize..=4],
        tape in prop::collection::vec(any::<u32>(), 0..400),
    ) {
        let program = generate(dims, &tape);
        if let Err(e) = check_matches_run(&program) {
            prop_assert!(false, "{e}\n--- program ---\n{}", program.text);
        }
    }
}

/// The generator itself: it reaches every construct the issue lists (so the
/// property above cannot pass by generating only trivial programs).
#[test]
fn generator_covers_the_language() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (
        [1usize..=4, 1usize..=4, 1usize..=4],
        prop::collection::vec(any::<u32>(), 0..400),
    );
    let mut all = String::new();
    for _ in 0..64 {
        let (dims, tape) = strategy.new_tree(&mut runner).unwrap().current();
        // The layer declarations are the same in every program: not counted.
        all.push_str(&generate(dims, &tape).text.replace(LAYERS, ""));
    }
    let mut counts = Vec::new();
    for construct in [
        "exp(",
        "tanh(",
        "sigmoid(",
        "relu(",
        "abs(",
        "sin(",
        "cos(",
        "sqrt(",
        "log(",
        " + ",
        " - ",
        " * ",
        " / ",
        "sum(",
        "mean(",
        "max(",
        "min(",
        "keepdims=true",
        "axis=[",
        "axis=-",
        "softmax(",
        "log_softmax(",
        "logsumexp(",
        " @ ",
        ".T",
        "transpose(",
        "reshape(",
        "tensordot(",
        "= Dense[",
        "= Two[",
        "= Center[]",
        "grad(L",
        "vjp(",
        "jvp(",
        "grad(sum(grad(",
        "hessian(",
        "jacobian(",
        ", 1]",
        "** ",
    ] {
        counts.push((construct, all.matches(construct).count()));
    }
    eprintln!("constructs in 64 generated programs: {counts:?}");
    for (construct, count) in &counts {
        assert!(
            *count > 0,
            "no generated program uses `{construct}`: {counts:?}"
        );
    }
}

// ------------------------------------------------------------------ issue 8

/// `gradlang run FILE --format json`: dims and values by name.
fn run_json(program: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.grad");
    std::fs::write(&path, program).unwrap();
    let out = Command::cargo_bin("gradlang")
        .unwrap()
        .args(["run", path.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "gradlang run failed on\n{program}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nprogram:\n{program}"))
}

/// The value of binding `name`: its shape and flat row-major data.
fn value_of(json: &serde_json::Value, name: &str) -> (Vec<usize>, Vec<f64>) {
    let v = json["values"]
        .as_array()
        .expect("a `values` list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no value named `{name}` in {json}"));
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap())
        .collect();
    (shape, data)
}

const X: &str = "dim N = 2, M = 3\ninput x: [N, M] = [[1, 2, 3], [4, 5, 6]]\n";

#[test]
fn issue8_sum_with_an_arithmetic_axis() {
    let program = format!("{X}y = sum(x, axis=2-1)\n");
    let json = run_json(&program);
    assert_eq!(json["dims"]["N"], 2, "{json}");
    assert_eq!(json["dims"]["M"], 3, "{json}");
    assert_eq!(
        value_of(&json, "y"),
        (vec![2], vec![6.0, 15.0]),
        "{program}"
    );
}

#[test]
fn issue8_mean_over_a_list_of_arithmetic_axes() {
    let program = format!("{X}w = mean(x, axis=[0, 2-1])\n");
    let json = run_json(&program);
    assert_eq!(value_of(&json, "w"), (vec![], vec![3.5]), "{program}");
}

#[test]
fn issue8_tensordot_with_an_arithmetic_count() {
    let program = "dim N = 2, M = 3\n\
                   input a: [N, M] = [[1, 2, 3], [4, 5, 6]]\n\
                   input b: [M, N] = [[1, 2], [3, 4], [5, 6]]\n\
                   t = tensordot(a, b, 2 - 1)\n";
    let json = run_json(program);
    assert_eq!(
        value_of(&json, "t"),
        (vec![2, 2], vec![22.0, 28.0, 49.0, 64.0]),
        "{program}"
    );
}

#[test]
fn issue8_transpose_with_an_arithmetic_permutation() {
    let program = format!("{X}p = transpose(x, [1 - 0, 0])\n");
    let json = run_json(&program);
    assert_eq!(
        value_of(&json, "p"),
        (vec![3, 2], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]),
        "{program}"
    );
}
