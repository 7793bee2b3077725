//! Derivatives as graph transformations.
//!
//! - Reverse mode ([`Graph::grad`], [`Graph::vjp`]): one backward sweep per
//!   (output, seed), cached, building the adjoint of every node in the output's cone
//!   (demand-driven evaluation later skips the ones nobody asks for). Adjoints of a
//!   node used several times are accumulated with `add`. Every contribution is
//!   unbroadcast to its input's shape here, in [`Graph::unbroadcast`], never in a rule.
//! - Forward mode ([`Graph::jvp`]): one forward sweep from `x` to `y` with JVP rules;
//!   every tangent is broadcast to its node's shape here.
//! - The rules: [`Graph::vjp_rule`] and [`Graph::jvp_rule`] are exhaustive matches
//!   over [`Op`]. Elementwise primitives share one table of local partial derivatives
//!   ([`Graph::elementwise_partials`]) used by both modes.
//!
//! Differentiating through a materialized jacobian node is not supported: the reverse
//! sweep marks every node upstream of one as "tainted" and a request for such a node's
//! derivative returns [`GraphError::Unsupported`]; the forward sweep fails likewise.

use super::op::{reduced_shape, BinaryOp, Op, ReduceOp, UnaryOp};
use super::{DType, Graph, GraphError, NodeId};
use std::sync::Arc;

/// The seed of a reverse sweep: the scalar 1 (for `grad`) or a cotangent node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SeedKey {
    One,
    Node(NodeId),
}

/// The adjoint map of one reverse sweep, indexed by node id (up to the output).
#[derive(Debug)]
pub(crate) struct Sweep {
    adj: Vec<Option<NodeId>>,
    tainted: Vec<bool>,
}

/// A local partial derivative d out / d input, applied to a cotangent (reverse) or a
/// tangent (forward) by multiplication; `Div` saves a reciprocal node.
#[derive(Copy, Clone, Debug)]
enum Partial {
    One,
    NegOne,
    Mul(NodeId),
    Div(NodeId),
}

enum VjpOut {
    /// One optional contribution per input, of any shape that broadcasts to the input.
    Contribs(Vec<Option<NodeId>>),
    /// The node cannot be differentiated through (a materialized jacobian).
    Opaque,
}

/// A reverse sweep as built so far, for printing and drawing derivatives.
#[derive(Clone, Debug)]
pub struct SweepView {
    /// The differentiated output.
    pub y: NodeId,
    /// The cotangent node of a `vjp`, `None` for `grad` (seed 1).
    pub seed: Option<NodeId>,
    /// The adjoint node of every node in the output's cone that has one, by node id.
    pub adjoints: Vec<Option<NodeId>>,
}

impl Graph {
    /// Every cached reverse sweep, in order of their outputs.
    pub fn sweep_views(&self) -> Vec<SweepView> {
        let mut out: Vec<SweepView> = self
            .sweeps
            .iter()
            .map(|((y, key), s)| SweepView {
                y: *y,
                seed: match key {
                    SeedKey::One => None,
                    SeedKey::Node(v) => Some(*v),
                },
                adjoints: s.adj.clone(),
            })
            .collect();
        out.sort_by_key(|s| (s.y, s.seed));
        out
    }
}

impl Graph {
    fn check_wrt(&self, y: NodeId, x: NodeId) -> Result<(), GraphError> {
        self.check_id(y)?;
        self.check_id(x)?;
        if self.dtype(x) == DType::Int {
            return Err(GraphError::IntDerivative { node: x });
        }
        if self.dtype(y) == DType::Int {
            return Err(GraphError::IntDerivative { node: y });
        }
        Ok(())
    }

    /// Gradient of the scalar `y` with respect to the value of node `x` (a leaf or any
    /// intermediate node, holding what it depends on fixed). Shape of `x`. Reverse mode;
    /// the backward sweep of `y` is shared by every `grad(y, ·)` request.
    pub fn grad(&mut self, y: NodeId, x: NodeId) -> Result<NodeId, GraphError> {
        self.deriving(|g| g.grad_inner(y, x))
    }

    fn grad_inner(&mut self, y: NodeId, x: NodeId) -> Result<NodeId, GraphError> {
        self.check_wrt(y, x)?;
        if !self.shape(y).is_empty() {
            return Err(GraphError::NonScalarOutput {
                op: "grad",
                shape: self.shape(y).to_vec(),
            });
        }
        self.reverse(y, x, SeedKey::One)
    }

    /// Vector-Jacobian product `v · dy/dx`; `v` has the shape of `y`, the result that of
    /// `x`. Reverse mode; the sweep is shared per `(y, v)`.
    pub fn vjp(&mut self, y: NodeId, x: NodeId, v: NodeId) -> Result<NodeId, GraphError> {
        self.deriving(|g| g.vjp_inner(y, x, v))
    }

    fn vjp_inner(&mut self, y: NodeId, x: NodeId, v: NodeId) -> Result<NodeId, GraphError> {
        self.check_wrt(y, x)?;
        self.check_id(v)?;
        if self.dtype(v) != DType::Float {
            return Err(GraphError::DTypeMismatch {
                op: "vjp",
                message: "the cotangent must be a float tensor".into(),
            });
        }
        if self.shape(v) != self.shape(y) {
            return Err(GraphError::ShapeMismatch {
                op: "vjp",
                message: format!(
                    "cotangent has shape {:?} but the output has shape {:?}",
                    self.shape(v),
                    self.shape(y)
                ),
            });
        }
        self.reverse(y, x, SeedKey::Node(v))
    }

    /// Jacobian-vector product `dy/dx · u`; `u` has the shape of `x`, the result that of
    /// `y`. Forward mode (JVP rules).
    pub fn jvp(&mut self, y: NodeId, x: NodeId, u: NodeId) -> Result<NodeId, GraphError> {
        self.deriving(|g| g.jvp_inner(y, x, u))
    }

    fn jvp_inner(&mut self, y: NodeId, x: NodeId, u: NodeId) -> Result<NodeId, GraphError> {
        self.check_wrt(y, x)?;
        self.check_id(u)?;
        if self.dtype(u) != DType::Float {
            return Err(GraphError::DTypeMismatch {
                op: "jvp",
                message: "the tangent must be a float tensor".into(),
            });
        }
        if self.shape(u) != self.shape(x) {
            return Err(GraphError::ShapeMismatch {
                op: "jvp",
                message: format!(
                    "tangent has shape {:?} but the variable has shape {:?}",
                    self.shape(u),
                    self.shape(x)
                ),
            });
        }
        if x == y {
            return Ok(u);
        }
        if x > y {
            let s = self.shape(y).to_vec();
            return Ok(self.zeros_like_shape(&s));
        }
        let cone = self.cone(y);
        let (base, top) = (x.idx(), y.idx());
        let mut tan: Vec<Option<NodeId>> = vec![None; top - base + 1];
        tan[0] = Some(u);
        for i in base + 1..=top {
            if !cone[i] {
                continue;
            }
            let id = NodeId(i as u32);
            let ts: Vec<Option<NodeId>> = self
                .inputs(id)
                .iter()
                .map(|inp| {
                    if inp.idx() >= base {
                        tan[inp.idx() - base]
                    } else {
                        None
                    }
                })
                .collect();
            if ts.iter().all(Option::is_none) {
                continue;
            }
            if let Some(t) = self.jvp_rule(id, &ts)? {
                let target = self.shape(id).to_vec();
                let t = if self.shape(t) != target.as_slice() {
                    self.broadcast_to(t, target)?
                } else {
                    t
                };
                tan[i - base] = Some(t);
            }
        }
        match tan[top - base] {
            Some(t) => Ok(t),
            None => {
                let s = self.shape(y).to_vec();
                Ok(self.zeros_like_shape(&s))
            }
        }
    }

    /// Ancestors of `y` (including `y`), as a mask indexed by node id up to `y`.
    pub(crate) fn cone(&self, y: NodeId) -> Vec<bool> {
        let mut c = vec![false; y.idx() + 1];
        c[y.idx()] = true;
        for i in (0..=y.idx()).rev() {
            if c[i] {
                for inp in &self.nodes[i].inputs {
                    c[inp.idx()] = true;
                }
            }
        }
        c
    }

    fn reverse(&mut self, y: NodeId, x: NodeId, key: SeedKey) -> Result<NodeId, GraphError> {
        if x > y {
            let s = self.shape(x).to_vec();
            return Ok(self.zeros_like_shape(&s));
        }
        let sweep = self.sweep(y, key)?;
        if sweep.tainted[x.idx()] {
            return Err(GraphError::Unsupported {
                message: format!(
                    "the derivative of {y} with respect to {x} flows through a materialized \
                     jacobian, which cannot be differentiated; differentiate before taking the jacobian"
                ),
            });
        }
        match sweep.adj[x.idx()] {
            Some(a) => Ok(a),
            None => {
                let s = self.shape(x).to_vec();
                Ok(self.zeros_like_shape(&s))
            }
        }
    }

    /// The (cached) reverse sweep of `y` with the given seed.
    fn sweep(&mut self, y: NodeId, key: SeedKey) -> Result<Arc<Sweep>, GraphError> {
        if let Some(s) = self.sweeps.get(&(y, key)) {
            return Ok(s.clone());
        }
        let seed = match key {
            SeedKey::One => self.scalar(1.0),
            SeedKey::Node(v) => v,
        };
        let n = y.idx() + 1;
        let cone = self.cone(y);
        let mut adj: Vec<Option<NodeId>> = vec![None; n];
        let mut tainted = vec![false; n];
        adj[y.idx()] = Some(seed);
        for i in (0..n).rev() {
            if !cone[i] {
                continue;
            }
            let id = NodeId(i as u32);
            let inputs = self.nodes[i].inputs.clone();
            if tainted[i] {
                for inp in &inputs {
                    tainted[inp.idx()] = true;
                }
            }
            let Some(g) = adj[i] else { continue };
            let needs: Vec<bool> = inputs
                .iter()
                .map(|&inp| self.dtype(inp) == DType::Float)
                .collect();
            match self.vjp_rule(id, g, &needs)? {
                VjpOut::Opaque => {
                    for inp in &inputs {
                        tainted[inp.idx()] = true;
                    }
                }
                VjpOut::Contribs(cs) => {
                    if cs.len() != inputs.len() && !inputs.is_empty() {
                        return Err(GraphError::Internal(format!(
                            "vjp rule of {} returned {} contributions for {} inputs",
                            self.nodes[i].op.name(),
                            cs.len(),
                            inputs.len()
                        )));
                    }
                    for (k, c) in cs.into_iter().enumerate() {
                        let Some(c) = c else { continue };
                        if !needs[k] {
                            continue;
                        }
                        let inp = inputs[k];
                        let target = self.shape(inp).to_vec();
                        let c = self.unbroadcast(c, &target)?;
                        adj[inp.idx()] = Some(match adj[inp.idx()] {
                            None => c,
                            Some(prev) => self.add(prev, c)?,
                        });
                    }
                }
            }
        }
        let s = Arc::new(Sweep { adj, tainted });
        self.sweeps.insert((y, key), s.clone());
        Ok(s)
    }

    /// Sums a cotangent back to `target` over broadcast axes (and drops added leading
    /// axes). The only place where unbroadcasting happens.
    pub(crate) fn unbroadcast(
        &mut self,
        c: NodeId,
        target: &[usize],
    ) -> Result<NodeId, GraphError> {
        let cs = self.shape(c).to_vec();
        if cs == target {
            return Ok(c);
        }
        let bad = || {
            GraphError::Internal(format!(
                "cotangent of shape {cs:?} cannot be unbroadcast to {target:?}"
            ))
        };
        if cs.len() < target.len() {
            return Err(bad());
        }
        let lead = cs.len() - target.len();
        let mut axes = Vec::new();
        for (i, &d) in cs.iter().enumerate() {
            if i < lead {
                axes.push(i);
            } else {
                let t = target[i - lead];
                if t == 1 && d != 1 {
                    axes.push(i);
                } else if t != d {
                    return Err(bad());
                }
            }
        }
        let s = self.sum(c, &axes, true)?;
        self.reshape(s, target.to_vec())
    }

    fn apply_partial(&mut self, p: Partial, t: NodeId) -> Result<NodeId, GraphError> {
        match p {
            Partial::One => Ok(t),
            Partial::NegOne => self.neg(t),
            Partial::Mul(n) => self.mul(t, n),
            Partial::Div(n) => self.div(t, n),
        }
    }

    fn matmul_t(&mut self, a: NodeId, b: NodeId, ta: bool, tb: bool) -> Result<NodeId, GraphError> {
        self.push(
            Op::MatMul {
                trans_a: ta,
                trans_b: tb,
            },
            vec![a, b],
        )
    }

    /// For a max/min reduction node: `mask / count`, shape of its input, where mask
    /// marks the elements equal to the extremum (ties share the derivative evenly).
    fn extremum_weights(&mut self, n: NodeId) -> Result<NodeId, GraphError> {
        let node = self.node(n).clone();
        let Op::Reduce { axes, .. } = &node.op else {
            return Err(GraphError::Internal(
                "extremum weights of a non-reduction".into(),
            ));
        };
        let x = node.inputs[0];
        let kshape = reduced_shape(self.shape(x), axes, true);
        let yk = self.reshape(n, kshape)?;
        let mask = self.equal(x, yk)?;
        let cnt = self.sum(mask, axes, true)?;
        self.div(mask, cnt)
    }

    /// The table of local partial derivatives of the elementwise primitives, one per
    /// input (`None` = zero or not needed). Shared by the VJP and JVP rules.
    fn elementwise_partials(
        &mut self,
        n: NodeId,
        needs: &[bool],
    ) -> Result<Vec<Option<Partial>>, GraphError> {
        let node = self.node(n).clone();
        let need = |k: usize| needs.get(k).copied().unwrap_or(false);
        match node.op {
            Op::Unary(u) => {
                if !need(0) {
                    return Ok(vec![None]);
                }
                let x = node.inputs[0];
                let p = match u {
                    UnaryOp::Erf => {
                        let xx = self.mul(x, x)?;
                        let e = self.neg(xx)?;
                        let e = self.exp(e)?;
                        Some(Partial::Mul(
                            self.scale(e, std::f64::consts::FRAC_2_SQRT_PI)?,
                        ))
                    }
                    UnaryOp::Log1p => {
                        let one = self.scalar(1.0);
                        Some(Partial::Div(self.add(x, one)?))
                    }
                    UnaryOp::Expm1 => {
                        let one = self.scalar(1.0);
                        Some(Partial::Mul(self.add(n, one)?))
                    }
                    UnaryOp::Softplus => Some(Partial::Mul(self.sigmoid(x)?)),
                    UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => None,
                    UnaryOp::Neg => Some(Partial::NegOne),
                    UnaryOp::Exp => Some(Partial::Mul(n)),
                    UnaryOp::Log => Some(Partial::Div(x)),
                    UnaryOp::Sqrt => Some(Partial::Div(self.scale(n, 2.0)?)),
                    UnaryOp::Tanh => {
                        let yy = self.mul(n, n)?;
                        let one = self.scalar(1.0);
                        Some(Partial::Mul(self.sub(one, yy)?))
                    }
                    UnaryOp::Sigmoid => {
                        let one = self.scalar(1.0);
                        let om = self.sub(one, n)?;
                        Some(Partial::Mul(self.mul(n, om)?))
                    }
                    UnaryOp::Relu => {
                        let zero = self.scalar(0.0);
                        Some(Partial::Mul(self.greater(x, zero)?))
                    }
                    UnaryOp::Abs => Some(Partial::Mul(self.sign(x)?)),
                    UnaryOp::Sin => Some(Partial::Mul(self.cos(x)?)),
                    UnaryOp::Cos => {
                        let s = self.sin(x)?;
                        Some(Partial::Mul(self.neg(s)?))
                    }
                    UnaryOp::Sign => None,
                    UnaryOp::SafeLog => {
                        // step(x) / (|x| + 1 - step(x)): 1/x where x > 0, else 0, finite everywhere
                        let zero = self.scalar(0.0);
                        let st = self.greater(x, zero)?;
                        let ax = self.abs(x)?;
                        let one = self.scalar(1.0);
                        let om = self.sub(one, st)?;
                        let den = self.add(ax, om)?;
                        Some(Partial::Mul(self.div(st, den)?))
                    }
                };
                Ok(vec![p])
            }
            Op::Binary(b) => {
                let (a, c) = (node.inputs[0], node.inputs[1]);
                let (pa, pb) = match b {
                    BinaryOp::Add => (Some(Partial::One), Some(Partial::One)),
                    BinaryOp::Sub => (Some(Partial::One), Some(Partial::NegOne)),
                    BinaryOp::Mul => (Some(Partial::Mul(c)), Some(Partial::Mul(a))),
                    BinaryOp::Div => {
                        let pb = if need(1) {
                            let q = self.div(n, c)?;
                            Some(Partial::Mul(self.neg(q)?))
                        } else {
                            None
                        };
                        (Some(Partial::Div(c)), pb)
                    }
                    BinaryOp::Pow => {
                        let pa = if need(0) {
                            let one = self.scalar(1.0);
                            let pm1 = self.sub(c, one)?;
                            let q = self.pow(a, pm1)?;
                            Some(Partial::Mul(self.mul(c, q)?))
                        } else {
                            None
                        };
                        let pb = if need(1) {
                            let l = self.safe_log(a)?;
                            Some(Partial::Mul(self.mul(n, l)?))
                        } else {
                            None
                        };
                        (pa, pb)
                    }
                    BinaryOp::Maximum | BinaryOp::Minimum => {
                        let (hi, lo) = if b == BinaryOp::Maximum {
                            (a, c)
                        } else {
                            (c, a)
                        };
                        let gt = self.greater(hi, lo)?;
                        let eq = self.equal(a, c)?;
                        let half = self.scale(eq, 0.5)?;
                        let wa = self.add(gt, half)?;
                        let pb = if need(1) {
                            let one = self.scalar(1.0);
                            Some(Partial::Mul(self.sub(one, wa)?))
                        } else {
                            None
                        };
                        (Some(Partial::Mul(wa)), pb)
                    }
                    BinaryOp::Greater | BinaryOp::Equal => (None, None),
                };
                Ok(vec![pa.filter(|_| need(0)), pb.filter(|_| need(1))])
            }
            _ => Err(GraphError::Internal(format!(
                "{} is not an elementwise primitive",
                node.op.name()
            ))),
        }
    }

    /// The VJP rule of every primitive: given the cotangent `g` of node `n`, the
    /// contribution to each input's cotangent (before unbroadcasting).
    fn vjp_rule(&mut self, n: NodeId, g: NodeId, needs: &[bool]) -> Result<VjpOut, GraphError> {
        let node = self.node(n).clone();
        let ins = &node.inputs;
        let need = |k: usize| needs.get(k).copied().unwrap_or(false);
        let out = match &node.op {
            Op::Conv2d(win) => {
                let (x, w) = (ins[0], ins[1]);
                let xs = self.shape(x).to_vec();
                let dx = if need(0) {
                    Some(self.conv2d_input_grad(g, w, win, [xs[1], xs[2]])?)
                } else {
                    None
                };
                let dw = if need(1) {
                    Some(self.push(Op::Conv2dWeightGrad(win.clone()), vec![x, g])?)
                } else {
                    None
                };
                vec![dx, dw]
            }
            Op::Conv2dInputGrad { win, .. } => {
                // <h, IG(g, w)> = <conv(h, w), g> = <WG(h, g), w>
                let (gg, w) = (ins[0], ins[1]);
                let dg = if need(0) {
                    Some(self.push(Op::Conv2d(win.clone()), vec![g, w])?)
                } else {
                    None
                };
                let dw = if need(1) {
                    Some(self.push(Op::Conv2dWeightGrad(win.clone()), vec![g, gg])?)
                } else {
                    None
                };
                vec![dg, dw]
            }
            Op::Conv2dWeightGrad(win) => {
                // <h, WG(x, g)> = <conv(x, h), g> = <IG(g, h), x>
                let (x, gg) = (ins[0], ins[1]);
                let xs = self.shape(x).to_vec();
                let dx = if need(0) {
                    Some(self.conv2d_input_grad(gg, g, win, [xs[1], xs[2]])?)
                } else {
                    None
                };
                let dg = if need(1) {
                    Some(self.push(Op::Conv2d(win.clone()), vec![x, g])?)
                } else {
                    None
                };
                vec![dx, dg]
            }
            Op::PoolSelect(win) => {
                let x = ins[0];
                let xs = self.shape(x).to_vec();
                let dt = self.push(
                    Op::PoolScatter {
                        win: win.clone(),
                        input: [xs[1], xs[2]],
                    },
                    vec![x, g],
                )?;
                vec![None, Some(dt)]
            }
            Op::PoolScatter { win, .. } => {
                let x = ins[0];
                vec![
                    None,
                    Some(self.push(Op::PoolSelect(win.clone()), vec![x, g])?),
                ]
            }
            Op::PoolSum(win) => {
                let xs = self.shape(ins[0]).to_vec();
                vec![Some(self.push(
                    Op::PoolSumT {
                        win: win.clone(),
                        input: [xs[1], xs[2]],
                    },
                    vec![g],
                )?)]
            }
            Op::PoolSumT { win, .. } => vec![Some(self.push(Op::PoolSum(win.clone()), vec![g])?)],
            Op::ArgReduce { .. } => vec![None],
            Op::Accuracy => vec![None, None],
            Op::Arange { .. } => vec![],
            Op::Concat { axis } => {
                let mut out = Vec::with_capacity(ins.len());
                let mut start = 0;
                for &inp in ins {
                    let len = self.shape(inp)[*axis];
                    out.push(Some(self.narrow(g, *axis, start, len)?));
                    start += len;
                }
                out
            }
            Op::Narrow { axis, start, len } => {
                let xs = self.shape(ins[0]).to_vec();
                let mut parts = Vec::new();
                let mut before = xs.clone();
                before[*axis] = *start;
                let mut after = xs.clone();
                after[*axis] = xs[*axis] - start - len;
                if *start > 0 {
                    parts.push(self.zeros_like_shape(&before));
                }
                parts.push(g);
                if after[*axis] > 0 {
                    parts.push(self.zeros_like_shape(&after));
                }
                vec![Some(self.concat(&parts, *axis)?)]
            }
            Op::Leaf { .. } | Op::Seed { .. } | Op::Constant { .. } | Op::Literal { .. } => vec![],
            Op::Unary(_) | Op::Binary(_) => {
                let ps = self.elementwise_partials(n, needs)?;
                let mut out = Vec::with_capacity(ps.len());
                for p in ps {
                    out.push(match p {
                        Some(p) => Some(self.apply_partial(p, g)?),
                        None => None,
                    });
                }
                out
            }
            Op::MatMul { trans_a, trans_b } => {
                let (a, b, ta, tb) = (ins[0], ins[1], *trans_a, *trans_b);
                // C = X Y with X = op(A), Y = op(B): dX = G Y^T, dY = X^T G
                let da = if need(0) {
                    Some(if ta {
                        self.matmul_t(b, g, tb, true)?
                    } else {
                        self.matmul_t(g, b, false, !tb)?
                    })
                } else {
                    None
                };
                let db = if need(1) {
                    Some(if tb {
                        self.matmul_t(g, a, true, ta)?
                    } else {
                        self.matmul_t(a, g, !ta, false)?
                    })
                } else {
                    None
                };
                vec![da, db]
            }
            Op::Transpose { perm } => {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                vec![Some(self.transpose(g, &inv)?)]
            }
            Op::Reshape { .. } => {
                let s = self.shape(ins[0]).to_vec();
                vec![Some(self.reshape(g, s)?)]
            }
            // the driver sums the cotangent back over the broadcast axes
            Op::BroadcastTo { .. } => vec![Some(g)],
            Op::Reduce { kind, axes, .. } => {
                let xs = self.shape(ins[0]).to_vec();
                let gk = self.reshape(g, reduced_shape(&xs, axes, true))?;
                match kind {
                    ReduceOp::Sum => vec![Some(self.broadcast_to(gk, xs)?)],
                    ReduceOp::Max | ReduceOp::Min => {
                        let w = self.extremum_weights(n)?;
                        vec![Some(self.mul(w, gk)?)]
                    }
                }
            }
            Op::OneHot { .. } => vec![None],
            Op::StopGradient => vec![None],
            Op::Jacobian(_) => return Ok(VjpOut::Opaque),
            Op::Select => {
                let zero = self.scalar(0.0);
                let da = if need(1) {
                    Some(self.select(ins[0], g, zero)?)
                } else {
                    None
                };
                let db = if need(2) {
                    Some(self.select(ins[0], zero, g)?)
                } else {
                    None
                };
                vec![None, da, db]
            }
            Op::IntToFloat => vec![None],
            Op::Slice { ranges } => {
                let xs = self.shape(ins[0]).to_vec();
                vec![Some(self.unslice(g, ranges.clone(), xs)?)]
            }
            Op::Unslice { ranges, .. } => vec![Some(self.slice(g, ranges.clone())?)],
        };
        Ok(VjpOut::Contribs(out))
    }

    fn add_opt(
        &mut self,
        a: Option<NodeId>,
        b: Option<NodeId>,
    ) -> Result<Option<NodeId>, GraphError> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(self.add(a, b)?),
            (a, None) => a,
            (None, b) => b,
        })
    }

    /// The JVP rule of every primitive: given the tangents of the inputs (`None` =
    /// zero), the tangent of node `n` (any shape broadcasting to `n`'s).
    fn jvp_rule(&mut self, n: NodeId, ts: &[Option<NodeId>]) -> Result<Option<NodeId>, GraphError> {
        let node = self.node(n).clone();
        let ins = &node.inputs;
        let t = |k: usize| ts.get(k).copied().flatten();
        match &node.op {
            Op::Conv2d(_) | Op::Conv2dInputGrad { .. } | Op::Conv2dWeightGrad(_) => {
                // bilinear: d op(a, b) = op(da, b) + op(a, db)
                let (a, b) = (ins[0], ins[1]);
                let l = match t(0) {
                    Some(da) => Some(self.push(node.op.clone(), vec![da, b])?),
                    None => None,
                };
                let r = match t(1) {
                    Some(db) => Some(self.push(node.op.clone(), vec![a, db])?),
                    None => None,
                };
                self.add_opt(l, r)
            }
            // linear in the second operand, piecewise constant in the first
            Op::PoolSelect(_) | Op::PoolScatter { .. } => match t(1) {
                Some(d) => Ok(Some(self.push(node.op.clone(), vec![ins[0], d])?)),
                None => Ok(None),
            },
            Op::PoolSum(_) | Op::PoolSumT { .. } | Op::Narrow { .. } => match t(0) {
                Some(d) => Ok(Some(self.push(node.op.clone(), vec![d])?)),
                None => Ok(None),
            },
            Op::ArgReduce { .. } | Op::Accuracy | Op::Arange { .. } => Ok(None),
            Op::Concat { axis } => {
                if ts.iter().all(Option::is_none) {
                    return Ok(None);
                }
                let mut parts = Vec::with_capacity(ins.len());
                for (k, &inp) in ins.iter().enumerate() {
                    parts.push(match t(k) {
                        Some(d) => d,
                        None => {
                            let s = self.shape(inp).to_vec();
                            self.zeros_like_shape(&s)
                        }
                    });
                }
                Ok(Some(self.concat(&parts, *axis)?))
            }
            Op::Leaf { .. } | Op::Seed { .. } | Op::Constant { .. } | Op::Literal { .. } => {
                Ok(None)
            }
            Op::Unary(_) | Op::Binary(_) => {
                let needs: Vec<bool> = ts.iter().map(Option::is_some).collect();
                let ps = self.elementwise_partials(n, &needs)?;
                let mut acc = None;
                for (k, p) in ps.into_iter().enumerate() {
                    if let (Some(p), Some(tk)) = (p, t(k)) {
                        let c = self.apply_partial(p, tk)?;
                        acc = self.add_opt(acc, Some(c))?;
                    }
                }
                Ok(acc)
            }
            Op::MatMul { trans_a, trans_b } => {
                let (a, b, ta, tb) = (ins[0], ins[1], *trans_a, *trans_b);
                let l = match t(0) {
                    Some(da) => Some(self.matmul_t(da, b, ta, tb)?),
                    None => None,
                };
                let r = match t(1) {
                    Some(db) => Some(self.matmul_t(a, db, ta, tb)?),
                    None => None,
                };
                self.add_opt(l, r)
            }
            Op::Transpose { perm } => match t(0) {
                Some(d) => Ok(Some(self.transpose(d, perm)?)),
                None => Ok(None),
            },
            Op::Reshape { shape } => match t(0) {
                Some(d) => Ok(Some(self.reshape(d, shape.clone())?)),
                None => Ok(None),
            },
            Op::BroadcastTo { shape } => match t(0) {
                Some(d) => Ok(Some(self.broadcast_to(d, shape.clone())?)),
                None => Ok(None),
            },
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                let Some(d) = t(0) else { return Ok(None) };
                match kind {
                    ReduceOp::Sum => Ok(Some(self.sum(d, axes, *keepdims)?)),
                    ReduceOp::Max | ReduceOp::Min => {
                        let w = self.extremum_weights(n)?;
                        let dw = self.mul(d, w)?;
                        Ok(Some(self.sum(dw, axes, *keepdims)?))
                    }
                }
            }
            Op::OneHot { .. } => Ok(None),
            Op::StopGradient => Ok(None),
            Op::IntToFloat => Ok(None),
            Op::Select => {
                if t(1).is_none() && t(2).is_none() {
                    return Ok(None);
                }
                let zero = self.scalar(0.0);
                let (a, b) = (t(1).unwrap_or(zero), t(2).unwrap_or(zero));
                Ok(Some(self.select(ins[0], a, b)?))
            }
            Op::Slice { ranges } => match t(0) {
                Some(d) => {
                    // the tangent may be any shape broadcasting to the input's
                    let xs = self.shape(ins[0]).to_vec();
                    let d = self.broadcast_to(d, xs)?;
                    Ok(Some(self.slice(d, ranges.clone())?))
                }
                None => Ok(None),
            },
            Op::Unslice { ranges, shape } => match t(0) {
                Some(d) => {
                    let window: Vec<usize> = ranges.iter().map(|r| r.1).collect();
                    let d = self.broadcast_to(d, window)?;
                    Ok(Some(self.unslice(d, ranges.clone(), shape.clone())?))
                }
                None => Ok(None),
            },
            Op::Jacobian(_) => Err(GraphError::Unsupported {
                message: "forward-mode derivative through a materialized jacobian; \
                          differentiate before taking the jacobian"
                    .into(),
            }),
        }
    }
}
