//! `gradlang backward`: the program with every derivative replaced by the steps
//! that compute it, read back from the graph (SPEC section 12).
//!
//! The program is lowered (dimensions from defaults and `--dim`); each `grad`,
//! `vjp`, `jvp` of a top-level statement (and those inside a `jacobian` or
//! `hessian`, which stay materialized) is looked up among the lowering's
//! derivative sites by its span. The nodes its result needs are translated into
//! the expression IR (`expr.rs`), forward values by the names the program gave
//! them, backward nodes by the rules of the primitives (one exhaustive `match`,
//! [`Printer::translate`]). Adjoints become one binding each, named `dL_dW`
//! after the output and the value they are the adjoint of; values used twice
//! become a binding; everything else is printed inline. Shapes in the comments
//! come from the checked types of the names, carried through the IR's own rules.

use super::expr::{Id, Ir, K};
use crate::check::typed::{DerivativeKind, TExpr, TExprKind, TStmt};
use crate::check::Checked;
use crate::diagnostics::Span;
use crate::graph::{BinaryOp, Graph, NodeId, Op, ReduceOp, SweepView, UnaryOp};
use crate::run::Lowered;
use std::collections::{HashMap, HashSet};

/// Why a derivative cannot be printed (it is then left as written).
#[derive(Debug)]
struct Unprintable;

/// `--of` named something that is not a top-level binding.
#[derive(Debug, Clone)]
pub struct UnknownName {
    pub name: String,
    pub suggestion: Option<String>,
}

/// One derivative of a statement to replace.
struct Site {
    span: Span,
    kind: DerivativeKind,
    y: NodeId,
    x: NodeId,
    result: NodeId,
}

pub struct Printer<'a> {
    src: &'a str,
    checked: &'a Checked,
    graph: &'a Graph,
    lowered: &'a Lowered,
    ir: Ir,
    memo: HashMap<NodeId, Id>,
    avail: HashMap<NodeId, String>,
    /// Symbolic shapes of the program's names.
    types: HashMap<String, Vec<String>>,
    /// Global dimension values, in declaration order.
    dims: Vec<(String, usize)>,
    /// Printed names of IR nodes (variables and emitted steps).
    names: HashMap<Id, String>,
    used: HashSet<String>,
    sweeps: Vec<SweepView>,
    /// For a backward node: the (sweep, forward node) pairs it is the adjoint of.
    adjoint_of: HashMap<NodeId, Vec<(usize, NodeId)>>,
    /// Name hint and rule comment of an IR node built from an adjoint.
    hints: HashMap<Id, (String, String)>,
    relu_of: HashMap<NodeId, NodeId>,
    syms: Vec<Vec<String>>,
}

/// Prints the backward program. `of`: the bindings whose derivatives are
/// expanded (all, and those of asserts, when `None`).
pub fn print_backward(
    src: &str,
    checked: &Checked,
    lowered: &Lowered,
    dims: &HashMap<String, usize>,
    of: Option<&[String]>,
) -> Result<String, UnknownName> {
    let binding_names: Vec<&str> = checked
        .stmts
        .iter()
        .filter_map(|s| match s {
            TStmt::Binding { tensor, .. } => Some(checked.tensor(*tensor).name.as_str()),
            _ => None,
        })
        .collect();
    if let Some(of) = of {
        for n in of {
            if !binding_names.contains(&n.as_str()) {
                return Err(UnknownName {
                    name: n.clone(),
                    suggestion: crate::check::closest_name(n, binding_names.iter().copied())
                        .map(str::to_string),
                });
            }
        }
    }
    let mut p = Printer::new(src, checked, lowered, dims);
    Ok(p.run(of))
}

fn sanitize(name: &str) -> String {
    name.replace('.', "_")
}

fn line_start(src: &str, pos: usize) -> usize {
    src[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

impl<'a> Printer<'a> {
    fn new(
        src: &'a str,
        checked: &'a Checked,
        lowered: &'a Lowered,
        dims: &HashMap<String, usize>,
    ) -> Self {
        let graph = &lowered.graph;
        let mut types = HashMap::new();
        for t in &checked.tensors {
            if t.layer.is_none() {
                if let Some(ty) = &t.ty {
                    types.insert(
                        t.name.clone(),
                        ty.shape.iter().map(|p| p.display(&checked.dims)).collect(),
                    );
                }
            }
        }
        let mut dim_list = Vec::new();
        let mut used: HashSet<String> = HashSet::new();
        for (_, info) in checked.dims.iter() {
            used.insert(info.name.clone());
            if let crate::check::dims::DimKind::Global { .. } = info.kind {
                if let Some(v) = dims.get(&info.name) {
                    dim_list.push((info.name.clone(), *v));
                }
            }
        }
        for t in &checked.tensors {
            used.insert(t.name.clone());
        }
        for i in &checked.instances {
            used.insert(i.name.clone());
        }
        for l in &checked.layers {
            used.insert(l.name.clone());
        }
        for kw in crate::syntax::KEYWORDS {
            used.insert(kw.to_string());
        }
        for row in crate::check::BUILTINS {
            used.insert(row.name.to_string());
        }
        let sweeps = graph.sweep_views();
        let mut adjoint_of: HashMap<NodeId, Vec<(usize, NodeId)>> = HashMap::new();
        for (si, s) in sweeps.iter().enumerate() {
            // closest to the output first: its name is the one a reader expects
            for (i, a) in s.adjoints.iter().enumerate().rev() {
                if let Some(a) = a {
                    if graph.is_derived(*a) || s.seed == Some(*a) {
                        adjoint_of
                            .entry(*a)
                            .or_default()
                            .push((si, NodeId(i as u32)));
                    }
                }
            }
        }
        let mut relu_of = HashMap::new();
        for i in 0..graph.len() {
            let n = NodeId(i as u32);
            if let Some(Op::Unary(UnaryOp::Relu)) = graph.op(n) {
                if !graph.is_derived(n) {
                    relu_of.entry(graph.inputs(n)[0]).or_insert(n);
                }
            }
        }
        Printer {
            src,
            checked,
            graph,
            lowered,
            ir: Ir::default(),
            memo: HashMap::new(),
            avail: HashMap::new(),
            types,
            dims: dim_list,
            names: HashMap::new(),
            used,
            sweeps,
            adjoint_of,
            hints: HashMap::new(),
            relu_of,
            syms: Vec::new(),
        }
    }

    fn name_node(&mut self, node: NodeId, name: &str) {
        self.avail.entry(node).or_insert_with(|| name.to_string());
    }

    fn run(&mut self, of: Option<&[String]>) -> String {
        let checked = self.checked;
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for stmt in &checked.stmts {
            match stmt {
                TStmt::Decl(t) => {
                    let name = &checked.tensor(*t).name;
                    if let Some(&n) = self.lowered.named.get(name) {
                        self.name_node(n, name);
                    }
                }
                TStmt::Instance(id) => {
                    let prefix = format!("{}.", checked.instance(*id).name);
                    let mut params: Vec<(&String, &NodeId)> = self
                        .lowered
                        .named
                        .iter()
                        .filter(|(k, _)| k.starts_with(&prefix))
                        .collect();
                    params.sort();
                    for (k, n) in params {
                        self.name_node(*n, k);
                    }
                }
                TStmt::Binding { tensor, value } => {
                    let name = checked.tensor(*tensor).name.clone();
                    if of.is_none_or(|of| of.contains(&name)) {
                        let at = line_start(self.src, checked.tensor(*tensor).span.start);
                        self.statement(&[value], at, &mut edits);
                    }
                    if let Some(&n) = self.lowered.named.get(&name) {
                        self.name_node(n, &name);
                    }
                }
                TStmt::Assert(a) => {
                    if of.is_none() {
                        let at = line_start(self.src, a.a.span.start);
                        self.statement(&[&a.a, &a.b], at, &mut edits);
                    }
                }
                TStmt::Return(_) => {}
            }
        }
        edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut out = self.src.to_string();
        for (start, end, text) in edits {
            out.replace_range(start..end, &text);
        }
        let header = "# Printed by `gradlang backward`: every derivative replaced by the steps that\n# compute it (shapes in comments, then the rule each step comes from).\n";
        format!("{header}{out}")
    }

    /// Replaces the derivatives of one statement; steps go in before line `at`.
    fn statement(&mut self, exprs: &[&TExpr], at: usize, edits: &mut Vec<(usize, usize, String)>) {
        let mut found = Vec::new();
        for e in exprs {
            collect(e, &mut found);
        }
        let mut sites = Vec::new();
        for (span, kind) in found {
            if let Some(d) = self.lowered.derivatives.iter().find(|d| d.span == span) {
                sites.push(Site {
                    span,
                    kind,
                    y: d.y,
                    x: d.x,
                    result: d.result,
                });
            }
        }
        let mut results = Vec::new();
        for s in &sites {
            if let Ok(id) = self.translate_all(s.result) {
                results.push((s, id));
            }
        }
        if results.is_empty() {
            return;
        }
        let mut lines = String::new();
        self.emit(&results, &mut lines);
        if !lines.is_empty() {
            edits.push((at, at, lines));
        }
        for (s, id) in results {
            let text = self
                .names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| self.render(id).0);
            edits.push((s.span.start, s.span.end, text));
        }
    }

    /// The label of a graph node in rule comments.
    fn label(&self, n: NodeId) -> String {
        match self.avail.get(&n) {
            Some(name) => name.clone(),
            None => match self.graph.op(n) {
                Some(Op::Constant { value, shape }) if shape.is_empty() => fmt_num(*value),
                Some(op) => format!("({})", op.name()),
                None => "?".into(),
            },
        }
    }

    /// Translates every node `result` needs (iteratively, in id order).
    fn translate_all(&mut self, result: NodeId) -> Result<Id, Unprintable> {
        let mut need = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![result];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) || self.memo.contains_key(&n) {
                continue;
            }
            need.push(n);
            if self.avail.contains_key(&n) {
                continue;
            }
            stack.extend(self.graph.inputs(n).iter().copied());
            if let Some(Op::Binary(BinaryOp::Greater)) = self.graph.op(n) {
                if let Some(&r) = self.relu_of.get(&self.graph.inputs(n)[0]) {
                    stack.push(r);
                }
            }
        }
        need.sort();
        for n in need {
            if self.memo.contains_key(&n) {
                continue;
            }
            let id = match self.avail.get(&n).cloned() {
                Some(name) => {
                    let shape = self.graph.shape(n).to_vec();
                    let id = self.ir.var(&name, shape);
                    self.names.insert(id, name);
                    id
                }
                None => self.translate(n)?,
            };
            self.memo.insert(n, id);
            self.hint(n, id);
        }
        self.memo.get(&result).copied().ok_or(Unprintable)
    }

    /// Records the name and rule of an adjoint's IR node.
    fn hint(&mut self, n: NodeId, id: Id) {
        if self.hints.contains_key(&id) || self.names.contains_key(&id) {
            return;
        }
        let Some(list) = self.adjoint_of.get(&n).cloned() else {
            return;
        };
        if matches!(self.ir.node(id).k, K::Var(_) | K::Num(_) | K::Full(_)) {
            return;
        }
        // prefer a forward value the program named
        let &(si, fwd) = list
            .iter()
            .find(|(_, f)| self.avail.contains_key(f))
            .unwrap_or(&list[0]);
        let s = self.sweeps[si].clone();
        let yname = self
            .avail
            .get(&s.y)
            .map(|n| sanitize(n))
            .unwrap_or_else(|| "y".into());
        let fname = match self.avail.get(&fwd) {
            Some(n) => sanitize(n),
            None => {
                // the input of a named value (`h = relu(a)`): `h_in`
                let consumers: Vec<NodeId> = (fwd.0 + 1..=s.y.0)
                    .map(NodeId)
                    .filter(|c| !self.graph.is_derived(*c) && self.graph.inputs(*c).contains(&fwd))
                    .collect();
                match consumers.as_slice() {
                    [c] if self.avail.contains_key(c) => format!("{}_in", sanitize(&self.avail[c])),
                    _ => self
                        .graph
                        .op(fwd)
                        .map(|o| o.name())
                        .unwrap_or("v")
                        .to_string(),
                }
            }
        };
        let mut rules = Vec::new();
        for c in fwd.0 + 1..=s.y.0 {
            let c = NodeId(c);
            if s.adjoints.get(c.0 as usize).copied().flatten().is_none() {
                continue;
            }
            for (k, &inp) in self.graph.inputs(c).iter().enumerate() {
                if inp == fwd {
                    let (expr, rule) = self.rule(c, k);
                    if !rule.is_empty() {
                        rules.push(format!("vjp of {expr} w.r.t. {}: {rule}", self.label(fwd)));
                    }
                }
            }
        }
        let mut unique: Vec<String> = Vec::new();
        for r in rules {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        let rules = unique;
        let rule = if rules.is_empty() {
            "the seed".to_string()
        } else {
            rules.join("; ")
        };
        self.hints.insert(id, (format!("d{yname}_d{fname}"), rule));
    }

    /// The forward expression of `c` and its VJP rule w.r.t. input `k`, for comments.
    fn rule(&self, c: NodeId, k: usize) -> (String, String) {
        let ins = self.graph.inputs(c);
        let l = |i: usize| ins.get(i).map(|&n| self.label(n)).unwrap_or_default();
        let (a, b) = (l(0), l(1));
        let Some(op) = self.graph.op(c) else {
            return (String::new(), String::new());
        };
        let unb = if ins.len() == 2 && self.graph.shape(ins[k]) != self.graph.shape(c) {
            ", summed over the broadcast axes"
        } else {
            ""
        };
        let (e, r): (String, String) = match op {
            Op::Leaf { .. }
            | Op::Seed { .. }
            | Op::Constant { .. }
            | Op::Literal { .. }
            | Op::OneHot { .. }
            | Op::StopGradient
            | Op::Select
            | Op::IntToFloat
            | Op::Slice { .. }
            | Op::Unslice { .. }
            | Op::Conv2d(_)
            | Op::Conv2dInputGrad { .. }
            | Op::Conv2dWeightGrad(_)
            | Op::PoolSelect { .. }
            | Op::PoolScatter { .. }
            | Op::PoolSum { .. }
            | Op::PoolSumT { .. }
            | Op::ArgReduce { .. }
            | Op::Accuracy
            | Op::Arange { .. }
            | Op::Concat { .. }
            | Op::Narrow { .. }
            | Op::Jacobian(_) => (String::new(), String::new()),
            Op::Unary(u) => {
                let e = format!("{}({a})", op.name());
                let r = match u {
                    UnaryOp::Neg => "-g",
                    UnaryOp::Exp => "g * exp(x)",
                    UnaryOp::Log => "g / x",
                    UnaryOp::Sqrt => "g / (2 * sqrt(x))",
                    UnaryOp::Tanh => "g * (1 - tanh(x)**2)",
                    UnaryOp::Sigmoid => "g * s * (1 - s)",
                    UnaryOp::Relu => "g * (x > 0)",
                    UnaryOp::Abs => "g * sign(x)",
                    UnaryOp::Sin => "g * cos(x)",
                    UnaryOp::Cos => "-g * sin(x)",
                    UnaryOp::Sign => "",
                    UnaryOp::SafeLog => "g / x where x > 0",
                    UnaryOp::Erf => "g * 2 / sqrt(pi) * exp(-x**2)",
                    UnaryOp::Log1p => "g / (1 + x)",
                    UnaryOp::Expm1 => "g * exp(x)",
                    UnaryOp::Softplus => "g * sigmoid(x)",
                    UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => "",
                };
                (e, r.to_string())
            }
            Op::Binary(bop) => {
                let sym = match bop {
                    BinaryOp::Add => "+",
                    BinaryOp::Sub => "-",
                    BinaryOp::Mul => "*",
                    BinaryOp::Div => "/",
                    BinaryOp::Pow => "**",
                    BinaryOp::Maximum | BinaryOp::Minimum | BinaryOp::Greater | BinaryOp::Equal => {
                        ""
                    }
                };
                let e = if sym.is_empty() {
                    format!("{}({a}, {b})", op.name())
                } else {
                    format!("{a} {sym} {b}")
                };
                let r = match (bop, k) {
                    (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => "g".to_string(),
                    (BinaryOp::Sub, _) => "-g".to_string(),
                    (BinaryOp::Mul, 0) => format!("g * {b}"),
                    (BinaryOp::Mul, _) => format!("g * {a}"),
                    (BinaryOp::Div, 0) => format!("g / {b}"),
                    (BinaryOp::Div, _) => format!("-g * {a} / {b}**2"),
                    (BinaryOp::Pow, 0) => format!("g * {b} * {a}**({b} - 1)"),
                    (BinaryOp::Pow, _) => format!("g * {a}**{b} * log({a})"),
                    (BinaryOp::Maximum | BinaryOp::Minimum, _) => {
                        "g where this operand is the result (half at ties)".to_string()
                    }
                    (BinaryOp::Greater | BinaryOp::Equal, _) => String::new(),
                };
                (e, if r.is_empty() { r } else { format!("{r}{unb}") })
            }
            Op::MatMul { trans_a, trans_b } => {
                let at = if *trans_a {
                    format!("{a}.T")
                } else {
                    a.clone()
                };
                let bt = if *trans_b {
                    format!("{b}.T")
                } else {
                    b.clone()
                };
                let r = if k == 0 {
                    if *trans_b {
                        format!("g @ {b}")
                    } else {
                        format!("g @ {b}.T")
                    }
                } else if *trans_a {
                    format!("{a} @ g")
                } else {
                    format!("{a}.T @ g")
                };
                (format!("{at} @ {bt}"), r)
            }
            Op::Transpose { .. } => (format!("transpose({a})"), "g transposed back".into()),
            Op::Reshape { .. } => (format!("reshape({a})"), "g reshaped back".into()),
            Op::BroadcastTo { .. } => (
                format!("broadcast({a})"),
                "g summed over the broadcast axes".into(),
            ),
            Op::Reduce { kind, .. } => match kind {
                ReduceOp::Sum => (format!("sum({a})"), "g broadcast back".into()),
                ReduceOp::Max | ReduceOp::Min => (
                    format!("{}({a})", op.name()),
                    "g where x is the extremum, split among ties".into(),
                ),
            },
        };
        (e, r)
    }

    /// One graph node as IR, from its inputs' IR: one arm per primitive.
    fn translate(&mut self, n: NodeId) -> Result<Id, Unprintable> {
        let g = self.graph;
        let ins: Vec<Id> = g
            .inputs(n)
            .iter()
            .map(|i| self.memo.get(i).copied().ok_or(Unprintable))
            .collect::<Result<_, _>>()?;
        let shape = g.shape(n).to_vec();
        let op = g.op(n).ok_or(Unprintable)?.clone();
        let ir = &mut self.ir;
        Ok(match op {
            Op::Leaf { name, .. } => ir.var(&name, shape),
            Op::Seed { .. }
            | Op::Literal { .. }
            | Op::Jacobian(_)
            | Op::Select
            | Op::IntToFloat
            | Op::Slice { .. }
            | Op::Unslice { .. }
            | Op::Conv2d(_)
            | Op::Conv2dInputGrad { .. }
            | Op::Conv2dWeightGrad(_)
            | Op::PoolSelect { .. }
            | Op::PoolScatter { .. }
            | Op::PoolSum { .. }
            | Op::PoolSumT { .. }
            | Op::ArgReduce { .. }
            | Op::Accuracy
            | Op::Arange { .. }
            | Op::Concat { .. }
            | Op::Narrow { .. } => return Err(Unprintable),
            Op::Constant { value, .. } => ir.full(value, shape),
            Op::Unary(u) => {
                let x = ins[0];
                match u {
                    UnaryOp::Neg => ir.neg(x),
                    UnaryOp::Exp => ir.func("exp", x),
                    UnaryOp::Log => ir.func("log", x),
                    UnaryOp::Sqrt => ir.func("sqrt", x),
                    UnaryOp::Tanh => ir.func("tanh", x),
                    UnaryOp::Sigmoid => ir.func("sigmoid", x),
                    UnaryOp::Relu => ir.func("relu", x),
                    UnaryOp::Abs => ir.func("abs", x),
                    UnaryOp::Sin => ir.func("sin", x),
                    UnaryOp::Cos => ir.func("cos", x),
                    UnaryOp::Sign => ir.func("sign", x),
                    UnaryOp::Erf => ir.func("erf", x),
                    UnaryOp::Log1p => ir.func("log1p", x),
                    UnaryOp::Expm1 => ir.func("expm1", x),
                    UnaryOp::Softplus => ir.func("softplus", x),
                    UnaryOp::Floor => ir.func("floor", x),
                    UnaryOp::Ceil => ir.func("ceil", x),
                    UnaryOp::Round => ir.func("round", x),
                    UnaryOp::SafeLog => {
                        // ln x where x > 0, else 0: log(relu(x) + 1 - sign(relu(x)))
                        let r = ir.func("relu", x);
                        let st = ir.func("sign", r);
                        let one = ir.num(1.0);
                        let om = ir.bin(K::Sub, one, st, shape.clone());
                        let den = ir.bin(K::Add, r, om, shape.clone());
                        ir.func("log", den)
                    }
                }
            }
            Op::Binary(b) => {
                let (x, y) = (ins[0], ins[1]);
                match b {
                    BinaryOp::Add => ir.bin(K::Add, x, y, shape),
                    BinaryOp::Sub => ir.bin(K::Sub, x, y, shape),
                    BinaryOp::Mul => ir.bin(K::Mul, x, y, shape),
                    BinaryOp::Div => ir.bin(K::Div, x, y, shape),
                    BinaryOp::Pow => ir.bin(K::Pow, x, y, shape),
                    BinaryOp::Maximum => ir.raw(K::Func2("maximum"), vec![x, y], shape),
                    BinaryOp::Minimum => ir.raw(K::Func2("minimum"), vec![x, y], shape),
                    BinaryOp::Greater => {
                        // 1 where x > y: sign(relu(x - y)); relu(x) by its name when y is 0
                        let a = g.inputs(n)[0];
                        let r = match (ir.constant(y), self.relu_of.get(&a)) {
                            (Some(c), Some(r)) if c == 0.0 && g.shape(*r) == shape.as_slice() => {
                                self.memo
                                    .get(r)
                                    .copied()
                                    .unwrap_or_else(|| ir.func("relu", x))
                            }
                            _ => {
                                let d = ir.bin(K::Sub, x, y, shape.clone());
                                ir.func("relu", d)
                            }
                        };
                        let r = ir.broadcast_to(r, shape);
                        ir.func("sign", r)
                    }
                    BinaryOp::Equal => {
                        // 1 where x == y: 1 - abs(sign(x - y))
                        let d = ir.bin(K::Sub, x, y, shape.clone());
                        let s = ir.func("sign", d);
                        let a = ir.func("abs", s);
                        let one = ir.num(1.0);
                        ir.bin(K::Sub, one, a, shape)
                    }
                }
            }
            Op::MatMul { trans_a, trans_b } => ir.matmul(ins[0], ins[1], trans_a, trans_b, shape),
            Op::Transpose { perm } => ir.transpose(ins[0], &perm),
            Op::Reshape { shape } => ir.reshape(ins[0], shape),
            Op::BroadcastTo { shape } => ir.broadcast_to(ins[0], shape),
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                let f = match kind {
                    ReduceOp::Sum => "sum",
                    ReduceOp::Max => "max",
                    ReduceOp::Min => "min",
                };
                ir.reduce(f, ins[0], &axes, keepdims)
            }
            Op::OneHot { .. } => ir.raw(K::OneHot, vec![ins[0]], shape),
            // the same value; the printed program has no derivative left to stop
            Op::StopGradient => ins[0],
        })
    }

    /// Emits the steps of a statement's results.
    fn emit(&mut self, results: &[(&Site, Id)], out: &mut String) {
        let mut uses: HashMap<Id, usize> = HashMap::new();
        let mut seen = HashSet::new();
        let mut stack: Vec<Id> = results.iter().map(|r| r.1).collect();
        while let Some(id) = stack.pop() {
            if self.names.contains_key(&id) || !seen.insert(id) {
                continue;
            }
            for &a in &self.ir.node(id).args {
                *uses.entry(a).or_default() += 1;
                stack.push(a);
            }
        }
        let result_ids: HashMap<Id, &Site> = results.iter().map(|(s, id)| (*id, *s)).collect();
        let mut order: Vec<Id> = seen.into_iter().collect();
        order.sort();
        let mut tmp = 0;
        for id in order {
            let node = self.ir.node(id);
            let trivial = matches!(node.k, K::Var(_) | K::Num(_) | K::Full(_));
            let hinted = self.hints.get(&id).cloned();
            let is_result = result_ids.get(&id);
            if trivial && is_result.is_none() {
                continue;
            }
            let shared = uses.get(&id).copied().unwrap_or(0) >= 2;
            if !(hinted.is_some() || is_result.is_some() || shared) {
                continue;
            }
            let (base, rule) = match (&hinted, is_result) {
                (Some((n, r)), _) => (n.clone(), r.clone()),
                (None, Some(s)) => {
                    let y = self
                        .avail
                        .get(&s.y)
                        .map(|n| sanitize(n))
                        .unwrap_or_else(|| "y".into());
                    let x = self
                        .avail
                        .get(&s.x)
                        .map(|n| sanitize(n))
                        .unwrap_or_else(|| "x".into());
                    match s.kind {
                        DerivativeKind::Jvp => (
                            format!("jvp_{y}_{x}"),
                            "jvp: forward-mode rules along the tangent".into(),
                        ),
                        _ => (format!("d{y}_d{x}"), String::new()),
                    }
                }
                (None, None) => {
                    tmp += 1;
                    let base = match &node.k {
                        K::Func(f) => f.to_string(),
                        K::Reduce { func, .. } => func.to_string(),
                        K::Softmax(_) => "softmax".into(),
                        _ => "t".into(),
                    };
                    let _ = tmp;
                    (base, String::new())
                }
            };
            let name = self.fresh(&base);
            let (text, _) = self.render(id);
            let ty = self.sym(id).join(", ");
            let mut line = format!("{name} = {text}  # : [{ty}]");
            if !rule.is_empty() {
                line.push_str("  ");
                line.push_str(&rule);
            }
            out.push_str(&line);
            out.push('\n');
            self.names.insert(id, name);
        }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// The value of a dimension symbol (a global name or a number).
    fn sym_value(&self, s: &str) -> Option<usize> {
        s.parse()
            .ok()
            .or_else(|| self.dims.iter().find(|(n, _)| n == s).map(|(_, v)| *v))
    }

    /// A dimension name for a concrete size: one of `ctx` first, else the first
    /// global of that value, else the number.
    fn name_for(&self, d: usize, ctx: &[String]) -> String {
        for s in ctx {
            if self.sym_value(s) == Some(d) && d != 1 {
                return s.clone();
            }
        }
        if d != 1 {
            if let Some((n, _)) = self.dims.iter().find(|(_, v)| *v == d) {
                return n.clone();
            }
        }
        d.to_string()
    }

    /// The symbolic shape of an IR node.
    fn sym(&mut self, id: Id) -> Vec<String> {
        while self.syms.len() <= id {
            let i = self.syms.len();
            let s = self.compute_sym(i);
            self.syms.push(s);
        }
        self.syms[id].clone()
    }

    fn compute_sym(&self, id: Id) -> Vec<String> {
        let n = self.ir.node(id);
        let arg = |k: usize| self.syms[n.args[k]].clone();
        let from_values = |ctx: &[String]| -> Vec<String> {
            n.shape.iter().map(|&d| self.name_for(d, ctx)).collect()
        };
        match &n.k {
            K::Var(name) => match self.types.get(name) {
                Some(t) if t.len() == n.shape.len() => t.clone(),
                _ => from_values(&[]),
            },
            K::Num(_) => vec![],
            K::Full(_) => from_values(&[]),
            K::Neg | K::Func(_) | K::Softmax(_) => arg(0),
            K::Add | K::Sub | K::Mul | K::Div | K::Pow | K::Func2(_) => {
                let r = n.shape.len();
                let mut out = Vec::with_capacity(r);
                for (i, &d) in n.shape.iter().enumerate() {
                    let mut pick = None;
                    for &a in &n.args {
                        let (s, c) = (&self.syms[a], self.ir.shape(a));
                        if i + c.len() >= r {
                            let j = i + c.len() - r;
                            if c[j] == d && s.len() == c.len() {
                                pick = Some(s[j].clone());
                                break;
                            }
                        }
                    }
                    out.push(pick.unwrap_or_else(|| self.name_for(d, &[])));
                }
                out
            }
            K::MatMul { ta, tb } => {
                let mut a = arg(0);
                let mut b = arg(1);
                let (ra, rb) = (a.len(), b.len());
                if ra == 1 && rb >= 2 {
                    return vec![b[rb - 1].clone()];
                }
                if rb == 1 && ra >= 2 {
                    return vec![a[ra - 2].clone()];
                }
                if *ta && ra >= 2 {
                    a.swap(ra - 2, ra - 1);
                }
                if *tb && rb >= 2 {
                    b.swap(rb - 2, rb - 1);
                }
                let r = n.shape.len();
                let longer = if ra >= rb { &a } else { &b };
                let mut out: Vec<String> = longer[..longer.len().saturating_sub(2)].to_vec();
                out.push(a.get(ra.wrapping_sub(2)).cloned().unwrap_or_default());
                out.push(b.last().cloned().unwrap_or_default());
                if out.len() != r {
                    return from_values(&[a, b].concat());
                }
                out
            }
            K::Transpose(perm) => {
                let a = arg(0);
                perm.iter()
                    .map(|&p| a.get(p).cloned().unwrap_or_default())
                    .collect()
            }
            K::Reduce { axes, keepdims, .. } => arg(0)
                .into_iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    if axes.contains(&i) {
                        keepdims.then(|| "1".to_string())
                    } else {
                        Some(s)
                    }
                })
                .collect(),
            K::Reshape | K::BroadcastTo | K::OneHot => {
                let a = arg(0);
                let c = self.ir.shape(n.args[0]);
                let r = n.shape.len();
                if matches!(n.k, K::BroadcastTo) && c.len() <= r {
                    return n
                        .shape
                        .iter()
                        .enumerate()
                        .map(|(i, &d)| {
                            if i + c.len() >= r && c[i + c.len() - r] == d && a.len() == c.len() {
                                a[i + c.len() - r].clone()
                            } else {
                                self.name_for(d, &a)
                            }
                        })
                        .collect();
                }
                if matches!(n.k, K::OneHot) {
                    let mut out = a.clone();
                    out.push(self.name_for(*n.shape.last().unwrap_or(&1), &[]));
                    return out;
                }
                from_values(&a)
            }
        }
    }

    /// A number, as a dimension name when it is the size of one in `ctx`.
    fn render_num(&self, v: f64, ctx: &[String]) -> (String, u8) {
        if v >= 2.0 && v.fract() == 0.0 {
            let k = v as usize;
            for s in ctx {
                if self.sym_value(s) == Some(k) && s.parse::<usize>().is_err() {
                    return (s.clone(), 6);
                }
            }
            for (i, s) in ctx.iter().enumerate() {
                for t in &ctx[i + 1..] {
                    if let (Some(a), Some(b)) = (self.sym_value(s), self.sym_value(t)) {
                        if a * b == k && s.parse::<usize>().is_err() && t.parse::<usize>().is_err()
                        {
                            return (format!("({s} * {t})"), 6);
                        }
                    }
                }
            }
        }
        let s = fmt_num(v);
        let p = if v < 0.0 { 3 } else { 6 };
        (s, p)
    }

    fn wrap(&mut self, id: Id, min: u8) -> String {
        let (s, p) = self.render(id);
        if p < min {
            format!("({s})")
        } else {
            s
        }
    }

    fn shape_list(&mut self, id: Id) -> String {
        format!("[{}]", self.sym(id).join(", "))
    }

    /// An IR node as gradlang source, with its precedence (1 `+ -`, 2 `* / @`,
    /// 3 unary minus, 4 `**`, 6 atoms, calls and postfixes).
    fn render(&mut self, id: Id) -> (String, u8) {
        if let Some(n) = self.names.get(&id) {
            return (n.clone(), 6);
        }
        let node = self.ir.node(id).clone();
        let a = |k: usize| node.args[k];
        match &node.k {
            K::Var(n) => (n.clone(), 6),
            K::Num(b) => self.render_num(f64::from_bits(*b), &[]),
            K::Full(b) => {
                let v = f64::from_bits(*b);
                let s = self.shape_list(id);
                if v == 0.0 {
                    (format!("zeros({s})"), 6)
                } else if v == 1.0 {
                    (format!("ones({s})"), 6)
                } else {
                    (format!("{} * ones({s})", fmt_num(v)), 2)
                }
            }
            K::Neg => (format!("-{}", self.wrap(a(0), 3)), 3),
            K::Add | K::Sub | K::Mul | K::Div | K::MatMul { .. } => {
                let (op, p) = match &node.k {
                    K::Add => ("+", 1),
                    K::Sub => ("-", 1),
                    K::Mul => ("*", 2),
                    K::Div => ("/", 2),
                    _ => ("@", 2),
                };
                let mut l = self.wrap(a(0), p);
                let mut r = if matches!(node.k, K::Div) && !self.names.contains_key(&a(1)) {
                    match self.ir.node(a(1)).k {
                        K::Num(b) => {
                            let ctx = self.sym(a(0));
                            let (s, q) = self.render_num(f64::from_bits(b), &ctx);
                            if q <= p {
                                format!("({s})")
                            } else {
                                s
                            }
                        }
                        _ => self.wrap(a(1), p + 1),
                    }
                } else {
                    self.wrap(a(1), p + 1)
                };
                if let K::MatMul { ta, tb } = node.k {
                    l = self.transposed(a(0), ta, l);
                    r = self.transposed(a(1), tb, r);
                }
                (format!("{l} {op} {r}"), p)
            }
            K::Pow => {
                let l = self.wrap(a(0), 5);
                let r = self.wrap(a(1), 4);
                (format!("{l} ** {r}"), 4)
            }
            K::Transpose(perm) => {
                let rank = perm.len();
                if perm.iter().enumerate().all(|(i, &p)| p == rank - 1 - i) {
                    (format!("{}.T", self.wrap(a(0), 6)), 6)
                } else {
                    let (x, _) = self.render(a(0));
                    (format!("transpose({x}, {perm:?})"), 6)
                }
            }
            K::Reshape => {
                let (x, _) = self.render(a(0));
                (format!("reshape({x}, {})", self.shape_list(id)), 6)
            }
            K::BroadcastTo => {
                let x = self.wrap(a(0), 1);
                (format!("{x} + zeros({})", self.shape_list(id)), 1)
            }
            K::Reduce {
                func,
                axes,
                keepdims,
            } => {
                let (x, _) = self.render(a(0));
                let rank = self.ir.shape(a(0)).len();
                let all = axes.len() == rank;
                let mut s = format!("{func}({x}");
                if !all {
                    if axes.len() == 1 {
                        s.push_str(&format!(", axis={}", axes[0]));
                    } else {
                        s.push_str(&format!(", axis={axes:?}"));
                    }
                }
                if *keepdims {
                    s.push_str(", keepdims=true");
                }
                s.push(')');
                (s, 6)
            }
            K::Func(f) => {
                let (x, _) = self.render(a(0));
                (format!("{f}({x})"), 6)
            }
            K::Func2(f) => {
                let (x, _) = self.render(a(0));
                let (y, _) = self.render(a(1));
                (format!("{f}({x}, {y})"), 6)
            }
            K::OneHot => {
                let (x, _) = self.render(a(0));
                let c = self.sym(id).last().cloned().unwrap_or_default();
                (format!("one_hot({x}, {c})"), 6)
            }
            K::Softmax(axis) => {
                let (x, _) = self.render(a(0));
                (format!("softmax({x}, axis={axis})"), 6)
            }
        }
    }

    /// A matmul operand with its transpose flag: `x.T` for a matrix, else a
    /// `transpose` of the last two axes.
    fn transposed(&mut self, id: Id, t: bool, text: String) -> String {
        if !t {
            return text;
        }
        let rank = self.ir.shape(id).len();
        if rank == 2 {
            let (s, p) = self.render(id);
            if p < 6 {
                format!("({s}).T")
            } else {
                format!("{s}.T")
            }
        } else {
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(rank - 2, rank - 1);
            let (s, _) = self.render(id);
            format!("transpose({s}, {perm:?})")
        }
    }
}

/// The outermost derivatives of an expression that are not materialized
/// (`grad`, `vjp`, `jvp`); the arguments of `jacobian`/`hessian` are searched.
fn collect(e: &TExpr, out: &mut Vec<(Span, DerivativeKind)>) {
    match &e.kind {
        TExprKind::Derivative {
            kind, y, direction, ..
        } => match kind {
            DerivativeKind::Grad | DerivativeKind::Vjp | DerivativeKind::Jvp => {
                out.push((e.span, *kind))
            }
            DerivativeKind::Jacobian | DerivativeKind::Hessian => {
                collect(y, out);
                if let Some(d) = direction {
                    collect(d, out);
                }
            }
        },
        TExprKind::Number(_) | TExprKind::Dim(_) | TExprKind::Tensor(_) => {}
        TExprKind::Neg(x) | TExprKind::Transpose(x) => collect(x, out),
        TExprKind::Index { base, .. } => collect(base, out),
        TExprKind::Binary { lhs, rhs, .. } => {
            collect(lhs, out);
            collect(rhs, out);
        }
        TExprKind::Builtin { args, .. } | TExprKind::Call { args, .. } => {
            for a in args {
                collect(a, out);
            }
        }
    }
}

/// A number as gradlang source: the shortest text that reads back as the same f64.
pub fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "1e999".into()
        } else {
            "-1e999".into()
        };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let s = format!("{v}");
    if s.len() > 12 {
        format!("{v:e}")
    } else {
        s
    }
}
