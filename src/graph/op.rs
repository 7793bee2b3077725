//! The table of primitives: the closed [`Op`] enum and, for each primitive, its shape
//! rule ([`infer`]). The forward kernels are in `kernels.rs` and the VJP/JVP rules in
//! `autodiff.rs`; all three are exhaustive matches over `Op`, so a new primitive makes
//! the compiler point at every rule it needs.
//!
//! Composite operations (mean, softmax, logsumexp, cross_entropy, mse, tensordot,
//! the vector cases of matmul...) are built from these in `builder.rs` and have no
//! rules of their own.

use super::{numel, DType, GraphError, NodeId, Shape};
use std::sync::Arc;

/// Elementwise one-input primitives.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// The error function (libm, f64 precision); derivative `2/sqrt(pi) exp(-x²)`.
    Erf,
    /// `ln(1 + x)`, accurate near 0.
    Log1p,
    /// `exp(x) - 1`, accurate near 0.
    Expm1,
    /// `ln(1 + exp(x))`, computed stably; derivative `sigmoid(x)`.
    Softplus,
    /// Derivative zero.
    Floor,
    /// Derivative zero.
    Ceil,
    /// Half to even (NumPy); derivative zero.
    Round,
    Neg,
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    Relu,
    Abs,
    Sin,
    Cos,
    /// -1, 0 or 1 (0 at 0). Derivative zero.
    Sign,
    /// `ln x` where `x > 0`, else 0. Used by the derivative of `pow` w.r.t. its exponent.
    SafeLog,
}

/// Elementwise two-input primitives with NumPy broadcasting.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    /// 1.0 where `a > b`, else 0.0. Derivative zero.
    Greater,
    /// 1.0 where `a == b`, else 0.0. Derivative zero.
    Equal,
}

/// Reductions over a sorted, unique list of axes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

/// How a materialized jacobian is computed at evaluation time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum JacobianMode {
    /// One VJP per element of y (seed has y's shape, result x's shape).
    Rows,
    /// One JVP per element of x (seed has x's shape, result y's shape).
    Columns,
}

/// The sub-computation owned by a [`Op::Jacobian`] node. `result` is a node of the
/// same graph that depends linearly on the placeholder `seed`; the jacobian node's
/// inputs are the `frontier`: the values (not depending on the seed) that the
/// seed-dependent part reads. They are computed once by the outer evaluation; the
/// seed-dependent part is then run once per one-hot seed, in parallel.
#[derive(Clone, Debug, PartialEq)]
pub struct JacobianPlan {
    pub mode: JacobianMode,
    pub seed: NodeId,
    pub result: NodeId,
    pub y_shape: Shape,
    pub x_shape: Shape,
}

/// The geometry of 2-D windows over `[B, H, W, C]` (convolution and pooling):
/// output size `(H + lo + hi - d (k - 1) - 1) / s + 1` per spatial axis.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub size: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad_lo: [usize; 2],
    pub pad_hi: [usize; 2],
}

impl Window {
    /// The output length along spatial axis `a` (0 = H, 1 = W) of an input of
    /// length `n`; `None` when the (dilated) window does not fit.
    pub fn out_len(&self, a: usize, n: usize) -> Option<usize> {
        let span = self.dilation[a] * (self.size[a].max(1) - 1) + 1;
        let padded = n + self.pad_lo[a] + self.pad_hi[a];
        if padded < span || self.stride[a] == 0 || self.size[a] == 0 {
            return None;
        }
        Some((padded - span) / self.stride[a] + 1)
    }

    /// `[B, OH, OW, last]` for an input `[B, H, W, _]`.
    fn out_shape(&self, x: &[usize], last: usize) -> Option<Shape> {
        if x.len() != 4 {
            return None;
        }
        Some(vec![
            x[0],
            self.out_len(0, x[1])?,
            self.out_len(1, x[2])?,
            last,
        ])
    }
}

/// A primitive. Inputs are stored on the node, not in the op.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `[B, H, W, C]` conv `[KH, KW, C, O]` -> `[B, OH, OW, O]` (cross-correlation).
    Conv2d(Window),
    /// The VJP of `Conv2d` w.r.t. its input (a transposed convolution): inputs
    /// `g [B, OH, OW, O]`, `w`; result `[B, H, W, C]` with `input = [H, W]`.
    Conv2dInputGrad {
        win: Window,
        input: [usize; 2],
    },
    /// The VJP of `Conv2d` w.r.t. its weight: inputs `x`, `g`; result `[KH, KW, C, O]`.
    Conv2dWeightGrad(Window),
    /// Inputs `x`, `t` of one shape `[B, H, W, C]`: per window and channel, `t` at the
    /// first maximum of `x` (row-major). `max_pool2d(x)` is `PoolSelect(x, x)`.
    PoolSelect(Window),
    /// The adjoint of `PoolSelect` in `t`: inputs `x`, `g [B, OH, OW, C]`; each `g`
    /// added at its window's first maximum; result `[B, H, W, C]`, `input = [H, W]`.
    PoolScatter {
        win: Window,
        input: [usize; 2],
    },
    /// Window sums over `[B, H, W, C]` (padding counts as zeros).
    PoolSum(Window),
    /// The adjoint of `PoolSum`: `g [B, OH, OW, C]` -> `[B, H, W, C]`.
    PoolSumT {
        win: Window,
        input: [usize; 2],
    },
    /// Index of the first maximum (or minimum) along `axis`: an int tensor.
    ArgReduce {
        max: bool,
        axis: usize,
    },
    /// Logits `[N, C]`, int labels `[N]`: the fraction of rows whose first argmax is
    /// the label. Derivative zero.
    Accuracy,
    /// `[0, 1, .., n - 1]`, int.
    Arange {
        n: usize,
    },
    /// Inputs joined along `axis` (at least one input; other axes equal).
    Concat {
        axis: usize,
    },
    /// `len` entries from `start` along `axis` (the VJP of `Concat`).
    Narrow {
        axis: usize,
        start: usize,
        len: usize,
    },
    /// A value supplied at evaluation time (inputs, params).
    Leaf {
        name: String,
        shape: Shape,
        dtype: DType,
    },
    /// The one-hot placeholder of a jacobian's sub-computation; bound only by the
    /// jacobian kernel.
    Seed {
        shape: Shape,
    },
    /// Every element equal to `value`.
    Constant {
        value: f64,
        shape: Shape,
    },
    /// A row-major tensor literal.
    Literal {
        data: Arc<[f64]>,
        shape: Shape,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// Batched matrix product of two operands of rank >= 2, `[.., n, k] @ [.., k, m]`,
    /// batch dimensions broadcast; `trans_a`/`trans_b` swap the last two axes of an
    /// operand (passed to GEMM as strides, never copied).
    MatMul {
        trans_a: bool,
        trans_b: bool,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Reshape {
        shape: Shape,
    },
    BroadcastTo {
        shape: Shape,
    },
    Reduce {
        kind: ReduceOp,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// Int labels `[..]` to float `[.., classes]`.
    OneHot {
        classes: usize,
    },
    /// Identity whose derivative is zero.
    StopGradient,
    /// A materialized (generalized) jacobian, shape `y ++ x`.
    Jacobian(Arc<JacobianPlan>),
    /// `where(c, a, b)`: inputs `c` (a 0/1 mask), `a`, `b`, broadcast; `a` where
    /// `c` is non-zero, else `b` (never `0 * inf`).
    Select,
    /// An int tensor as floats. Derivative zero (its input has none).
    IntToFloat,
    /// A strided window per axis: `(start, len, step)`, `step >= 1`, every index
    /// in range. Axes are kept (integer indexing reshapes afterwards).
    Slice {
        ranges: Vec<(usize, usize, usize)>,
    },
    /// The adjoint of [`Op::Slice`]: zeros of `shape` with the input written into
    /// the window.
    Unslice {
        ranges: Vec<(usize, usize, usize)>,
        shape: Shape,
    },
}

impl Op {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf { .. } => "leaf",
            Op::Seed { .. } => "seed",
            Op::Constant { .. } => "constant",
            Op::Literal { .. } => "literal",
            Op::Conv2d(_) => "conv2d",
            Op::Conv2dInputGrad { .. } => "conv2d_input_grad",
            Op::Conv2dWeightGrad(_) => "conv2d_weight_grad",
            Op::PoolSelect(_) => "pool_select",
            Op::PoolScatter { .. } => "pool_scatter",
            Op::PoolSum(_) => "pool_sum",
            Op::PoolSumT { .. } => "pool_sum_t",
            Op::ArgReduce { max: true, .. } => "argmax",
            Op::ArgReduce { max: false, .. } => "argmin",
            Op::Accuracy => "accuracy",
            Op::Arange { .. } => "arange",
            Op::Concat { .. } => "concat",
            Op::Narrow { .. } => "narrow",
            Op::Unary(u) => match u {
                UnaryOp::Erf => "erf",
                UnaryOp::Log1p => "log1p",
                UnaryOp::Expm1 => "expm1",
                UnaryOp::Softplus => "softplus",
                UnaryOp::Floor => "floor",
                UnaryOp::Ceil => "ceil",
                UnaryOp::Round => "round",
                UnaryOp::Neg => "neg",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Sigmoid => "sigmoid",
                UnaryOp::Relu => "relu",
                UnaryOp::Abs => "abs",
                UnaryOp::Sin => "sin",
                UnaryOp::Cos => "cos",
                UnaryOp::Sign => "sign",
                UnaryOp::SafeLog => "safe_log",
            },
            Op::Binary(b) => match b {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Pow => "pow",
                BinaryOp::Maximum => "maximum",
                BinaryOp::Minimum => "minimum",
                BinaryOp::Greater => "greater",
                BinaryOp::Equal => "equal",
            },
            Op::MatMul { .. } => "matmul",
            Op::Transpose { .. } => "transpose",
            Op::Reshape { .. } => "reshape",
            Op::BroadcastTo { .. } => "broadcast_to",
            Op::Reduce { kind, .. } => match kind {
                ReduceOp::Sum => "sum",
                ReduceOp::Max => "max",
                ReduceOp::Min => "min",
            },
            Op::OneHot { .. } => "one_hot",
            Op::StopGradient => "stop_gradient",
            Op::Jacobian(_) => "jacobian",
            Op::Select => "select",
            Op::IntToFloat => "int_to_float",
            Op::Slice { .. } => "slice",
            Op::Unslice { .. } => "unslice",
        }
    }
}

/// NumPy broadcasting of two shapes, `None` if incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Whether `from` broadcasts to exactly `to`.
pub fn broadcasts_to(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len()
        && from
            .iter()
            .zip(&to[to.len() - from.len()..])
            .all(|(&f, &t)| f == t || f == 1)
}

/// Shape of a reduction's result.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if axes.contains(&i) {
                keepdims.then_some(1)
            } else {
                Some(d)
            }
        })
        .collect()
}

/// Effective `(rows, cols)` of the last two axes of a matmul operand.
fn mat_dims(shape: &[usize], trans: bool) -> (usize, usize) {
    let (r, c) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    if trans {
        (c, r)
    } else {
        (r, c)
    }
}

fn require_float(op: &'static str, ins: &[(&[usize], DType)]) -> Result<(), GraphError> {
    for (k, (_, dt)) in ins.iter().enumerate() {
        if *dt != DType::Float {
            return Err(GraphError::DTypeMismatch {
                op,
                message: format!("operand {k} is an int tensor; only one_hot accepts int labels"),
            });
        }
    }
    Ok(())
}

fn arity(op: &'static str, ins: &[(&[usize], DType)], n: usize) -> Result<(), GraphError> {
    if ins.len() == n {
        Ok(())
    } else {
        Err(GraphError::Internal(format!(
            "{op} expects {n} inputs, got {}",
            ins.len()
        )))
    }
}

/// The shape rule of every primitive: result shape and dtype from the inputs'.
pub(crate) fn infer(op: &Op, ins: &[(&[usize], DType)]) -> Result<(Shape, DType), GraphError> {
    let name = op.name();
    let shape_err = |message: String| GraphError::ShapeMismatch { op: name, message };
    match op {
        Op::Conv2d(win) => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (x, w) = (ins[0].0, ins[1].0);
            if w.len() != 4 || x.len() != 4 || x[3] != w[2] || [w[0], w[1]] != win.size {
                return Err(shape_err(format!(
                    "conv2d of {x:?} by {w:?}: expected [B, H, W, C] and [{}, {}, C, O]",
                    win.size[0], win.size[1]
                )));
            }
            let out = win
                .out_shape(x, w[3])
                .ok_or_else(|| shape_err(format!("the window of {w:?} does not fit {x:?}")))?;
            Ok((out, DType::Float))
        }
        Op::Conv2dInputGrad { win, input } => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (g, w) = (ins[0].0, ins[1].0);
            let x = [
                g.first().copied().unwrap_or(0),
                input[0],
                input[1],
                w.get(2).copied().unwrap_or(0),
            ];
            let fits = w.len() == 4
                && g.len() == 4
                && [w[0], w[1]] == win.size
                && win.out_shape(&x, w[3]).as_deref() == Some(g);
            if !fits {
                return Err(shape_err(format!(
                    "conv2d_input_grad of {g:?} by {w:?} to {input:?}"
                )));
            }
            Ok((x.to_vec(), DType::Float))
        }
        Op::Conv2dWeightGrad(win) => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (x, g) = (ins[0].0, ins[1].0);
            let fits = g.len() == 4 && win.out_shape(x, g[3]).as_deref() == Some(g);
            if !fits {
                return Err(shape_err(format!("conv2d_weight_grad of {x:?} and {g:?}")));
            }
            Ok((vec![win.size[0], win.size[1], x[3], g[3]], DType::Float))
        }
        Op::PoolSelect(win) => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (x, t) = (ins[0].0, ins[1].0);
            if x != t {
                return Err(shape_err(format!("pool_select of {x:?} and {t:?}")));
            }
            let out = x
                .last()
                .and_then(|&c| win.out_shape(x, c))
                .ok_or_else(|| shape_err(format!("the pooling window does not fit {x:?}")))?;
            Ok((out, DType::Float))
        }
        Op::PoolScatter { win, input } => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (x, g) = (ins[0].0, ins[1].0);
            let fits = x.len() == 4
                && [x[1], x[2]] == *input
                && win.out_shape(x, x[3]).as_deref() == Some(g);
            if !fits {
                return Err(shape_err(format!("pool_scatter of {g:?} to {x:?}")));
            }
            Ok((x.to_vec(), DType::Float))
        }
        Op::PoolSum(win) => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let x = ins[0].0;
            let out = x
                .last()
                .and_then(|&c| win.out_shape(x, c))
                .ok_or_else(|| shape_err(format!("the pooling window does not fit {x:?}")))?;
            Ok((out, DType::Float))
        }
        Op::PoolSumT { win, input } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let g = ins[0].0;
            let x = [
                g.first().copied().unwrap_or(0),
                input[0],
                input[1],
                g.last().copied().unwrap_or(0),
            ];
            if g.len() != 4 || win.out_shape(&x, x[3]).as_deref() != Some(g) {
                return Err(shape_err(format!("pool_sum_t of {g:?} to {input:?}")));
            }
            Ok((x.to_vec(), DType::Float))
        }
        Op::ArgReduce { axis, .. } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            if *axis >= s.len() || s[*axis] == 0 {
                return Err(GraphError::InvalidArgument {
                    op: name,
                    message: format!("axis {axis} of {s:?} is out of range or empty"),
                });
            }
            Ok((reduced_shape(s, &[*axis], false), DType::Int))
        }
        Op::Accuracy => {
            arity(name, ins, 2)?;
            let (l, t) = (ins[0].0, ins[1].0);
            if ins[0].1 != DType::Float || ins[1].1 != DType::Int {
                return Err(GraphError::DTypeMismatch {
                    op: name,
                    message: "logits must be float and labels int".into(),
                });
            }
            if l.len() != 2 || t.len() != 1 || l[0] != t[0] || l[1] == 0 {
                return Err(shape_err(format!(
                    "logits must be [N, C] and labels [N], got {l:?} and {t:?}"
                )));
            }
            Ok((vec![], DType::Float))
        }
        Op::Arange { n } => {
            arity(name, ins, 0)?;
            Ok((vec![*n], DType::Int))
        }
        Op::Concat { axis } => {
            if ins.is_empty() {
                return Err(GraphError::Internal("concat of nothing".into()));
            }
            require_float(name, ins)?;
            let first = ins[0].0;
            let mut out = first.to_vec();
            if *axis >= first.len() {
                return Err(shape_err(format!("axis {axis} out of range for {first:?}")));
            }
            out[*axis] = 0;
            for (s, _) in ins {
                let same = s.len() == first.len()
                    && s.iter()
                        .zip(first)
                        .enumerate()
                        .all(|(i, (a, b))| i == *axis || a == b);
                if !same {
                    return Err(shape_err(format!(
                        "cannot concatenate {first:?} and {s:?} along axis {axis}"
                    )));
                }
                out[*axis] += s[*axis];
            }
            Ok((out, DType::Float))
        }
        Op::Narrow { axis, start, len } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            if *axis >= s.len() || start + len > s[*axis] {
                return Err(shape_err(format!(
                    "narrow {start}..{} of axis {axis} of {s:?}",
                    start + len
                )));
            }
            let mut out = s.to_vec();
            out[*axis] = *len;
            Ok((out, DType::Float))
        }
        Op::Leaf { shape, dtype, .. } => {
            arity(name, ins, 0)?;
            Ok((shape.clone(), *dtype))
        }
        Op::Seed { shape } | Op::Constant { shape, .. } => {
            arity(name, ins, 0)?;
            Ok((shape.clone(), DType::Float))
        }
        Op::Literal { data, shape } => {
            arity(name, ins, 0)?;
            if data.len() != numel(shape) {
                return Err(GraphError::InvalidArgument {
                    op: name,
                    message: format!(
                        "{} values given for shape {shape:?} ({} elements)",
                        data.len(),
                        numel(shape)
                    ),
                });
            }
            Ok((shape.clone(), DType::Float))
        }
        Op::Unary(_) | Op::StopGradient => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            Ok((ins[0].0.to_vec(), DType::Float))
        }
        Op::Binary(_) => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (a, b) = (ins[0].0, ins[1].0);
            broadcast_shapes(a, b)
                .map(|s| (s, DType::Float))
                .ok_or_else(|| GraphError::ShapeMismatch {
                    op: name,
                    message: format!("shapes {a:?} and {b:?} do not broadcast"),
                })
        }
        Op::MatMul { trans_a, trans_b } => {
            arity(name, ins, 2)?;
            require_float(name, ins)?;
            let (a, b) = (ins[0].0, ins[1].0);
            if a.len() < 2 || b.len() < 2 {
                return Err(GraphError::ShapeMismatch {
                    op: name,
                    message: format!(
                        "batched matmul needs rank >= 2 operands, got {a:?} and {b:?}"
                    ),
                });
            }
            let (n, k) = mat_dims(a, *trans_a);
            let (k2, m) = mat_dims(b, *trans_b);
            if k != k2 {
                return Err(GraphError::ShapeMismatch {
                    op: name,
                    message: format!(
                        "contracted dimensions differ: {a:?} @ {b:?} (inner {k} vs {k2})"
                    ),
                });
            }
            let batch =
                broadcast_shapes(&a[..a.len() - 2], &b[..b.len() - 2]).ok_or_else(|| {
                    GraphError::ShapeMismatch {
                        op: name,
                        message: format!("batch dimensions of {a:?} and {b:?} do not broadcast"),
                    }
                })?;
            let mut out = batch;
            out.push(n);
            out.push(m);
            Ok((out, DType::Float))
        }
        Op::Transpose { perm } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            let mut seen = vec![false; s.len()];
            let ok = perm.len() == s.len()
                && perm
                    .iter()
                    .all(|&p| p < s.len() && !std::mem::replace(&mut seen[p], true));
            if !ok {
                return Err(GraphError::InvalidArgument {
                    op: name,
                    message: format!("{perm:?} is not a permutation of the axes of {s:?}"),
                });
            }
            Ok((perm.iter().map(|&p| s[p]).collect(), DType::Float))
        }
        Op::Reshape { shape } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            if numel(s) != numel(shape) {
                return Err(GraphError::ShapeMismatch {
                    op: name,
                    message: format!(
                        "cannot reshape {s:?} ({} elements) to {shape:?} ({} elements)",
                        numel(s),
                        numel(shape)
                    ),
                });
            }
            Ok((shape.clone(), DType::Float))
        }
        Op::BroadcastTo { shape } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            if !broadcasts_to(s, shape) {
                return Err(GraphError::ShapeMismatch {
                    op: name,
                    message: format!("{s:?} does not broadcast to {shape:?}"),
                });
            }
            Ok((shape.clone(), DType::Float))
        }
        Op::Reduce { axes, keepdims, .. } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            let ok = axes.windows(2).all(|w| w[0] < w[1]) && axes.iter().all(|&a| a < s.len());
            if !ok {
                return Err(GraphError::InvalidArgument {
                    op: name,
                    message: format!(
                        "axes {axes:?} must be sorted, unique and below the rank of {s:?}"
                    ),
                });
            }
            Ok((reduced_shape(s, axes, *keepdims), DType::Float))
        }
        Op::OneHot { classes } => {
            arity(name, ins, 1)?;
            if ins[0].1 != DType::Int {
                return Err(GraphError::DTypeMismatch {
                    op: name,
                    message: "labels must be an int tensor".into(),
                });
            }
            if *classes == 0 {
                return Err(GraphError::InvalidArgument {
                    op: name,
                    message: "the number of classes must be at least 1".into(),
                });
            }
            let mut out = ins[0].0.to_vec();
            out.push(*classes);
            Ok((out, DType::Float))
        }
        Op::Jacobian(plan) => {
            let mut out = plan.y_shape.clone();
            out.extend_from_slice(&plan.x_shape);
            Ok((out, DType::Float))
        }
        Op::Select => {
            arity(name, ins, 3)?;
            require_float(name, ins)?;
            let ab = broadcast_shapes(ins[1].0, ins[2].0);
            ab.and_then(|ab| broadcast_shapes(ins[0].0, &ab))
                .map(|s| (s, DType::Float))
                .ok_or_else(|| GraphError::ShapeMismatch {
                    op: name,
                    message: format!(
                        "shapes {:?}, {:?} and {:?} do not broadcast",
                        ins[0].0, ins[1].0, ins[2].0
                    ),
                })
        }
        Op::IntToFloat => {
            arity(name, ins, 1)?;
            if ins[0].1 != DType::Int {
                return Err(GraphError::DTypeMismatch {
                    op: name,
                    message: "the input must be an int tensor".into(),
                });
            }
            Ok((ins[0].0.to_vec(), DType::Float))
        }
        Op::Slice { ranges } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            let s = ins[0].0;
            check_ranges(name, ranges, s)?;
            Ok((ranges.iter().map(|r| r.1).collect(), DType::Float))
        }
        Op::Unslice { ranges, shape } => {
            arity(name, ins, 1)?;
            require_float(name, ins)?;
            check_ranges(name, ranges, shape)?;
            let window: Vec<usize> = ranges.iter().map(|r| r.1).collect();
            if window != ins[0].0 {
                return Err(GraphError::ShapeMismatch {
                    op: name,
                    message: format!("input {:?} is not the window {window:?}", ins[0].0),
                });
            }
            Ok((shape.clone(), DType::Float))
        }
    }
}

/// Every `(start, len, step)` window lies inside its axis.
fn check_ranges(
    op: &'static str,
    ranges: &[(usize, usize, usize)],
    shape: &[usize],
) -> Result<(), GraphError> {
    let ok = ranges.len() == shape.len()
        && ranges.iter().zip(shape).all(|(&(start, len, step), &n)| {
            step >= 1 && (len == 0 || start + (len - 1) * step < n)
        });
    if ok {
        Ok(())
    } else {
        Err(GraphError::InvalidArgument {
            op,
            message: format!("windows {ranges:?} do not fit {shape:?}"),
        })
    }
}
