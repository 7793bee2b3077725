//! `gradlang graph`: the lowered program as a picture. Tensors the program names
//! are boxes (`name : [N, D]`), primitives are circles, edges carry the shape of
//! the value they move (dimension names). Inputs, params, the loss and
//! derivatives each have their own fill. With `--backward`, the backward
//! primitives are drawn (orange) and the forward values they read are joined to
//! them by dashed edges: what the backward pass keeps alive. DOT is written
//! here; SVG is DOT laid out and rendered by `layout-rs` (no Graphviz).

use super::backward::UnknownName;
use crate::check::typed::{TStmt, TensorKind};
use crate::check::Checked;
use crate::graph::{NodeId, Op};
use crate::run::Lowered;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

pub struct DrawOptions<'a> {
    /// Bindings to draw (with what they need); all when `None`.
    pub of: Option<&'a [String]>,
    pub backward: bool,
}

const INPUT: &str = "#cfe2ff";
const PARAM: &str = "#d1f2d6";
const LOSS: &str = "#ffd6d6";
const DERIVATIVE: &str = "#e6d6ff";
const BINDING: &str = "#f4f4f4";
const OP: &str = "#ffffff";
const BACKWARD_OP: &str = "#ffe0b8";

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The DOT text of the program's graph.
pub fn to_dot(
    checked: &Checked,
    lowered: &Lowered,
    dims: &HashMap<String, usize>,
    opts: &DrawOptions,
) -> Result<String, UnknownName> {
    let g = &lowered.graph;
    // names and kinds of the program's tensors, first name wins
    let mut name_of: HashMap<NodeId, (String, TensorKind)> = HashMap::new();
    let mut types: HashMap<String, String> = HashMap::new();
    for t in &checked.tensors {
        if t.layer.is_none() {
            if let Some(ty) = &t.ty {
                types.insert(t.name.clone(), checked.display(ty));
            }
        }
    }
    let mut outputs = Vec::new();
    let mut bindings = Vec::new();
    for stmt in &checked.stmts {
        if let TStmt::Binding { tensor, .. } = stmt {
            bindings.push(checked.tensor(*tensor).name.clone());
        }
    }
    if let Some(of) = opts.of {
        for n in of {
            if !bindings.contains(n) {
                return Err(UnknownName {
                    name: n.clone(),
                    suggestion: crate::check::closest_name(n, bindings.iter().map(|s| s.as_str()))
                        .map(str::to_string),
                });
            }
        }
    }
    for t in &checked.tensors {
        if t.layer.is_some() {
            continue;
        }
        if let Some(&n) = lowered.named.get(&t.name) {
            name_of.entry(n).or_insert((t.name.clone(), t.kind));
        }
        if matches!(
            t.kind,
            TensorKind::Binding | TensorKind::Loss | TensorKind::Metric
        ) && opts.of.is_none_or(|of| of.contains(&t.name))
        {
            if let Some(&n) = lowered.named.get(&t.name) {
                outputs.push(n);
            }
        }
    }
    let derivative_of: HashMap<NodeId, &crate::run::lower::DerivativeSite> =
        lowered.derivatives.iter().map(|d| (d.result, d)).collect();
    // the nodes to draw, and for a derivative drawn as one box, its operands
    let mut keep: BTreeSet<NodeId> = BTreeSet::new();
    let mut pseudo: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    let mut stack = outputs.clone();
    while let Some(n) = stack.pop() {
        if !keep.insert(n) {
            continue;
        }
        if !opts.backward {
            if let Some(d) = derivative_of.get(&n) {
                let mut ins = vec![d.y, d.x];
                ins.extend(d.direction);
                stack.extend(ins.iter().copied());
                pseudo.insert(n, ins);
                continue;
            }
        }
        stack.extend(g.inputs(n).iter().copied());
    }
    let dim_name = |d: usize| -> String {
        let mut best: Option<&String> = None;
        for (_, info) in checked.dims.iter() {
            if dims.get(&info.name) == Some(&d) && d != 1 {
                best = Some(&info.name);
                break;
            }
        }
        best.cloned().unwrap_or_else(|| d.to_string())
    };
    let shape_of = |n: NodeId| -> String {
        if let Some((name, _)) = name_of.get(&n) {
            if let Some(t) = types.get(name) {
                return t.clone();
            }
        }
        let parts: Vec<String> = g.shape(n).iter().map(|&d| dim_name(d)).collect();
        format!("[{}]", parts.join(", "))
    };
    let derivative_names: BTreeSet<NodeId> = derivative_of.keys().copied().collect();
    let mut out = String::new();
    out.push_str("digraph gradlang {\n");
    out.push_str("  rankdir=TB;\n");
    // where each node's value leaves from: its tensor box if named, else its op
    let src_id = |n: NodeId| -> String {
        if name_of.contains_key(&n) {
            format!("t{}", n.0)
        } else {
            format!("n{}", n.0)
        }
    };
    for &n in &keep {
        let derived = g.is_derived(n);
        let op = g.op(n).cloned();
        let is_leaf = matches!(op, Some(Op::Leaf { .. }));
        if !is_leaf {
            // the operation
            let (label, fill) = if let Some(ins) = pseudo.get(&n) {
                let _ = ins;
                let d = derivative_of[&n];
                (d.kind.name().to_string(), DERIVATIVE)
            } else {
                let label = match &op {
                    // a drawing is read, not parsed: `inf`, not the source's `1e999`
                    Some(Op::Constant { value, shape }) if shape.is_empty() => {
                        if value.is_infinite() {
                            format!("{value}")
                        } else {
                            super::backward::fmt_num(*value)
                        }
                    }
                    Some(Op::MatMul { trans_a, trans_b }) => match (trans_a, trans_b) {
                        (false, false) => "@".to_string(),
                        (true, false) => "ᵀ@".to_string(),
                        (false, true) => "@ᵀ".to_string(),
                        (true, true) => "ᵀ@ᵀ".to_string(),
                    },
                    Some(Op::Binary(b)) => match b {
                        crate::graph::BinaryOp::Add => "+".into(),
                        crate::graph::BinaryOp::Sub => "-".into(),
                        crate::graph::BinaryOp::Mul => "*".into(),
                        crate::graph::BinaryOp::Div => "/".into(),
                        crate::graph::BinaryOp::Pow => "**".into(),
                        other => Op::Binary(*other).name().to_string(),
                    },
                    Some(o) => o.name().to_string(),
                    None => "?".into(),
                };
                (label, if derived { BACKWARD_OP } else { OP })
            };
            let _ = writeln!(
                out,
                "  n{} [label=\"{}\", shape=circle, style=filled, fillcolor=\"{fill}\"];",
                n.0,
                esc(&label)
            );
        }
        if let Some((name, kind)) = name_of.get(&n) {
            let fill = match kind {
                TensorKind::Input => INPUT,
                TensorKind::Param | TensorKind::InstanceParam => PARAM,
                TensorKind::Loss => LOSS,
                _ if derivative_names.contains(&n) => DERIVATIVE,
                _ => BINDING,
            };
            let _ = writeln!(
                out,
                "  t{} [label=\"{} : {}\", shape=box, style=filled, fillcolor=\"{fill}\"];",
                n.0,
                esc(name),
                esc(&shape_of(n))
            );
            if !is_leaf {
                let _ = writeln!(
                    out,
                    "  n{0} -> t{0} [label=\"{1}\"];",
                    n.0,
                    esc(&shape_of(n))
                );
            }
        }
    }
    for &n in &keep {
        if matches!(g.op(n), Some(Op::Leaf { .. })) {
            continue;
        }
        let ins: Vec<NodeId> = match pseudo.get(&n) {
            Some(ins) => ins.clone(),
            None => g.inputs(n).to_vec(),
        };
        let mut seen = BTreeSet::new();
        for i in ins {
            if !seen.insert(i) {
                continue;
            }
            let style = if opts.backward && g.is_derived(n) && !g.is_derived(i) {
                ", style=dashed, color=\"#c05600\""
            } else if pseudo.contains_key(&n) {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} -> n{} [label=\"{}\"{style}];",
                src_id(i),
                n.0,
                esc(&shape_of(i))
            );
        }
    }
    out.push_str("}\n");
    Ok(out)
}

/// SVG of a DOT text, laid out by `layout-rs`.
pub fn to_svg(dot: &str) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let mut parser = DotParser::new(dot);
    let tree = parser.process()?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&tree);
    let mut vg = builder.get();
    let mut svg = SVGWriter::new();
    vg.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}
