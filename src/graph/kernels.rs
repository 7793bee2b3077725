//! Forward kernels: one exhaustive match over [`Op`].
//!
//! Parallelism never changes a result bit: elementwise kernels are embarrassingly
//! parallel; reductions accumulate every output element sequentially over fixed-size
//! chunks (`CHUNK`) whose partials are then combined in order, whatever the thread
//! count; matrix products split the output into fixed tiles (`TILE_ROWS` x
//! `TILE_COLS`), each one sequential GEMM call (transposed operands are passed as
//! strides, never copied).

use super::jacobian::eval_jacobian;
use super::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use super::{numel, EvalError, Float, Graph, NodeId, Value};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, IxDyn, Zip};
use rayon::prelude::*;

/// Elementwise kernels with at least this many elements run in parallel.
const PAR_MIN: usize = 1 << 15;
/// Fixed accumulation chunk of reductions (independent of the thread count).
const CHUNK: usize = 1 << 12;
/// Matrix products with at least this many multiply-adds are tiled and parallel.
const PAR_GEMM: usize = 1 << 21;
const TILE_ROWS: usize = 64;
const TILE_COLS: usize = 256;

fn internal(msg: impl Into<String>) -> EvalError {
    EvalError::Internal(msg.into())
}

/// Computes the value of node `id` from the values of its inputs.
pub(crate) fn forward<T: Float>(
    g: &Graph,
    id: NodeId,
    ins: &[&Value<T>],
) -> Result<Value<T>, EvalError> {
    let node = g.node(id);
    let shape = node.shape.as_slice();
    let arg = |k: usize| -> Result<&ArrayD<T>, EvalError> {
        ins.get(k)
            .ok_or_else(|| internal(format!("{} is missing input {k}", node.op.name())))?
            .float_or_err()
    };
    let out = match &node.op {
        Op::Leaf { .. } | Op::Seed { .. } => {
            return Err(internal("leaves and seeds are bound by the evaluator"))
        }
        Op::Constant { value, .. } => ArrayD::from_elem(IxDyn(shape), T::from_f64(*value)),
        Op::Literal { data, .. } => {
            ArrayD::from_shape_vec(IxDyn(shape), data.iter().map(|&v| T::from_f64(v)).collect())
                .map_err(|e| internal(format!("literal: {e}")))?
        }
        Op::Unary(u) => unary(*u, arg(0)?),
        Op::Binary(b) => binary(*b, arg(0)?, arg(1)?, shape)?,
        Op::MatMul { trans_a, trans_b } => matmul(arg(0)?, arg(1)?, *trans_a, *trans_b, shape)?,
        Op::Transpose { perm } => {
            let x = arg(0)?;
            if perm.len() != x.ndim() {
                return Err(internal("transpose rank"));
            }
            // keeps the permuted strides: a memcpy, no element shuffle
            x.view().permuted_axes(IxDyn(perm)).to_owned()
        }
        Op::Reshape { .. } => arg(0)?
            .to_shape(IxDyn(shape))
            .map_err(|e| internal(format!("reshape: {e}")))?
            .into_owned(),
        Op::BroadcastTo { .. } => arg(0)?
            .broadcast(IxDyn(shape))
            .ok_or_else(|| internal("broadcast_to"))?
            .to_owned(),
        Op::Reduce { kind, axes, .. } => reduce(arg(0)?, axes, *kind, shape)?,
        Op::OneHot { classes } => {
            let labels = ins
                .first()
                .ok_or_else(|| internal("one_hot input"))?
                .int_or_err()?;
            let mut out = vec![T::zero(); labels.len() * classes];
            for (i, &l) in labels.iter().enumerate() {
                if l < 0 || l as u64 >= *classes as u64 {
                    return Err(EvalError::LabelOutOfRange {
                        node: node.inputs[0],
                        label: l,
                        classes: *classes,
                    });
                }
                out[i * classes + l as usize] = T::one();
            }
            ArrayD::from_shape_vec(IxDyn(shape), out)
                .map_err(|e| internal(format!("one_hot: {e}")))?
        }
        Op::StopGradient => arg(0)?.clone(),
        Op::Jacobian(plan) => return eval_jacobian(g, id, plan, ins),
    };
    if out.shape() != shape {
        return Err(internal(format!(
            "{} produced shape {:?}, expected {:?}",
            node.op.name(),
            out.shape(),
            shape
        )));
    }
    Ok(Value::Float(out))
}

fn map1<T: Float>(x: &ArrayD<T>, f: impl Fn(T) -> T + Sync + Send) -> ArrayD<T> {
    if x.len() >= PAR_MIN {
        Zip::from(x).par_map_collect(|&v| f(v))
    } else {
        x.mapv(f)
    }
}

fn unary<T: Float>(u: UnaryOp, x: &ArrayD<T>) -> ArrayD<T> {
    let zero = T::zero();
    let one = T::one();
    match u {
        UnaryOp::Neg => map1(x, |v| -v),
        UnaryOp::Exp => map1(x, |v| v.exp()),
        UnaryOp::Log => map1(x, |v| v.ln()),
        UnaryOp::Sqrt => map1(x, |v| v.sqrt()),
        UnaryOp::Tanh => map1(x, |v| v.tanh()),
        UnaryOp::Sigmoid => map1(x, |v| {
            if v >= zero {
                one / (one + (-v).exp())
            } else {
                let e = v.exp();
                e / (one + e)
            }
        }),
        UnaryOp::Relu => map1(x, |v| if v < zero { zero } else { v }),
        UnaryOp::Abs => map1(x, |v| v.abs()),
        UnaryOp::Sin => map1(x, |v| v.sin()),
        UnaryOp::Cos => map1(x, |v| v.cos()),
        UnaryOp::Sign => map1(x, |v| {
            if v > zero {
                one
            } else if v < zero {
                -one
            } else if v.is_nan() {
                v
            } else {
                zero
            }
        }),
        UnaryOp::SafeLog => map1(x, |v| if v > zero { v.ln() } else { zero }),
    }
}

fn map2<T: Float>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Result<ArrayD<T>, EvalError> {
    let av = a
        .broadcast(IxDyn(shape))
        .ok_or_else(|| internal("binary operand does not broadcast"))?;
    let bv = b
        .broadcast(IxDyn(shape))
        .ok_or_else(|| internal("binary operand does not broadcast"))?;
    let z = Zip::from(&av).and(&bv);
    Ok(if numel(shape) >= PAR_MIN {
        z.par_map_collect(|&x, &y| f(x, y))
    } else {
        z.map_collect(|&x, &y| f(x, y))
    })
}

fn binary<T: Float>(
    op: BinaryOp,
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
) -> Result<ArrayD<T>, EvalError> {
    let (zero, one) = (T::zero(), T::one());
    match op {
        BinaryOp::Add => map2(a, b, shape, |x, y| x + y),
        BinaryOp::Sub => map2(a, b, shape, |x, y| x - y),
        BinaryOp::Mul => map2(a, b, shape, |x, y| x * y),
        BinaryOp::Div => map2(a, b, shape, |x, y| x / y),
        BinaryOp::Pow => map2(a, b, shape, |x, y| x.powf(y)),
        BinaryOp::Maximum => map2(a, b, shape, |x, y| if x.is_nan() || x > y { x } else { y }),
        BinaryOp::Minimum => map2(a, b, shape, |x, y| if x.is_nan() || x < y { x } else { y }),
        BinaryOp::Greater => map2(a, b, shape, |x, y| if x > y { one } else { zero }),
        BinaryOp::Equal => map2(a, b, shape, |x, y| if x == y { one } else { zero }),
    }
}

/// The 2-D matrix of batch `t` (row-major over the batch dimensions) of a view whose
/// leading dimensions are the (broadcast) batch.
fn batch_matrix<'a, T>(
    v: &ArrayViewD<'a, T>,
    batch: &[usize],
    t: usize,
    trans: bool,
) -> Result<ArrayView2<'a, T>, EvalError> {
    let mut idx = vec![0; batch.len()];
    let mut rem = t;
    for ax in (0..batch.len()).rev() {
        idx[ax] = rem % batch[ax];
        rem /= batch[ax];
    }
    let mut w = v.clone();
    for &i in &idx {
        w = w.index_axis_move(Axis(0), i);
    }
    let w = w
        .into_dimensionality::<Ix2>()
        .map_err(|e| internal(format!("matmul operand: {e}")))?;
    Ok(if trans { w.reversed_axes() } else { w })
}

/// A view of matmul operand `x` with its batch dimensions broadcast to `batch`.
fn with_batch<'a, T>(x: &'a ArrayD<T>, batch: &[usize]) -> Result<ArrayViewD<'a, T>, EvalError> {
    let mut s = batch.to_vec();
    s.extend_from_slice(&x.shape()[x.ndim() - 2..]);
    x.broadcast(IxDyn(&s))
        .ok_or_else(|| internal("matmul batch dimensions do not broadcast"))
}

fn matmul<T: Float>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    ta: bool,
    tb: bool,
    out_shape: &[usize],
) -> Result<ArrayD<T>, EvalError> {
    let ro = out_shape.len();
    if ro < 2 || a.ndim() < 2 || b.ndim() < 2 {
        return Err(internal("matmul rank"));
    }
    let batch = &out_shape[..ro - 2];
    let (n, m) = (out_shape[ro - 2], out_shape[ro - 1]);
    let (av, bv) = (with_batch(a, batch)?, with_batch(b, batch)?);
    let nb = numel(batch);
    let mut out = ArrayD::<T>::zeros(IxDyn(out_shape));
    let k = {
        let s = a.shape();
        if ta {
            s[s.len() - 2]
        } else {
            s[s.len() - 1]
        }
    };
    let mut out3 = out
        .view_mut()
        .into_shape_with_order((nb, n, m))
        .map_err(|e| internal(format!("matmul output: {e}")))?;
    let one_batch = |t: usize, c: ArrayViewMut2<'_, T>| -> Result<(), EvalError> {
        let am = batch_matrix(&av, batch, t, ta)?;
        let bm = batch_matrix(&bv, batch, t, tb)?;
        if am.dim() != (n, k) || bm.dim() != (k, m) {
            return Err(internal("matmul operand shapes"));
        }
        gemm(am, bm, c);
        Ok(())
    };
    if nb > 1 && nb.saturating_mul(n * m * k) >= PAR_GEMM {
        out3.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .try_for_each(|(t, c)| one_batch(t, c))?;
    } else {
        for (t, c) in out3.axis_iter_mut(Axis(0)).enumerate() {
            one_batch(t, c)?;
        }
    }
    Ok(out)
}

/// `c = a @ b`. Large products are split into fixed output tiles computed in parallel;
/// each output element is computed by exactly one sequential GEMM call whatever the
/// number of threads, so results do not depend on it.
fn gemm<T: Float>(a: ArrayView2<'_, T>, b: ArrayView2<'_, T>, c: ArrayViewMut2<'_, T>) {
    let (n, k) = a.dim();
    let m = b.ncols();
    let mut c = c;
    if n.saturating_mul(m).saturating_mul(k) < PAR_GEMM {
        general_mat_mul(T::one(), &a, &b, T::zero(), &mut c);
        return;
    }
    let mut tiles = Vec::new();
    let mut rest = c;
    let mut r0 = 0;
    while rest.nrows() > 0 {
        let h = TILE_ROWS.min(rest.nrows());
        let (top, bottom) = rest.split_at(Axis(0), h);
        let mut row = top;
        let mut c0 = 0;
        while row.ncols() > 0 {
            let w = TILE_COLS.min(row.ncols());
            let (left, right) = row.split_at(Axis(1), w);
            tiles.push((r0, c0, left));
            row = right;
            c0 += w;
        }
        rest = bottom;
        r0 += h;
    }
    tiles.into_par_iter().for_each(|(r0, c0, mut tile)| {
        let (h, w) = tile.dim();
        let at = a.slice(s![r0..r0 + h, ..]);
        let bt = b.slice(s![.., c0..c0 + w]);
        general_mat_mul(T::one(), &at, &bt, T::zero(), &mut tile);
    });
}

fn fold<T: Copy>(xs: &[T], init: T, f: fn(T, T) -> T) -> T {
    xs.iter().fold(init, |acc, &v| f(acc, v))
}

/// Reduces one contiguous row: fixed chunks, partials combined in order.
fn reduce_row<T: Float>(row: &[T], init: T, f: fn(T, T) -> T) -> T {
    if row.len() <= CHUNK {
        return fold(row, init, f);
    }
    let partials: Vec<T> = if row.len() >= PAR_MIN {
        row.par_chunks(CHUNK).map(|c| fold(c, init, f)).collect()
    } else {
        row.chunks(CHUNK).map(|c| fold(c, init, f)).collect()
    };
    fold(&partials, init, f)
}

fn reduce<T: Float>(
    x: &ArrayD<T>,
    axes: &[usize],
    kind: ReduceOp,
    out_shape: &[usize],
) -> Result<ArrayD<T>, EvalError> {
    let nd = x.ndim();
    if axes.iter().any(|&a| a >= nd) {
        return Err(internal("reduction axis"));
    }
    let mut perm: Vec<usize> = (0..nd).filter(|a| !axes.contains(a)).collect();
    perm.extend_from_slice(axes);
    let permuted = x.view().permuted_axes(IxDyn(&perm));
    let contiguous = permuted.as_standard_layout();
    let data = contiguous
        .as_slice()
        .ok_or_else(|| internal("reduction input layout"))?;
    let r: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let k = numel(out_shape);
    let (init, f): (T, fn(T, T) -> T) = match kind {
        ReduceOp::Sum => (T::zero(), |a, b| a + b),
        ReduceOp::Max => (
            T::neg_infinity(),
            |a, b| if b.is_nan() || b > a { b } else { a },
        ),
        ReduceOp::Min => (
            T::infinity(),
            |a, b| if b.is_nan() || b < a { b } else { a },
        ),
    };
    let out: Vec<T> = if r == 0 {
        vec![init; k]
    } else if k > 1 && data.len() >= PAR_MIN {
        data.par_chunks(r)
            .map(|row| reduce_row(row, init, f))
            .collect()
    } else {
        data.chunks(r).map(|row| reduce_row(row, init, f)).collect()
    };
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| internal(format!("reduce: {e}")))
}
