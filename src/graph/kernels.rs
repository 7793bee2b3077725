//! Forward kernels: one exhaustive match over [`Op`].
//!
//! Parallelism never changes a result bit: elementwise kernels are embarrassingly
//! parallel; reductions accumulate every output element sequentially over fixed-size
//! chunks (`CHUNK`) whose partials are then combined in order, whatever the thread
//! count; matrix products split the output into fixed tiles (a function of the
//! shape only, see `tile_shape`), each one sequential GEMM call (transposed operands
//! are passed as strides, never copied).

use super::jacobian::eval_jacobian;
use super::op::{BinaryOp, Op, ReduceOp, UnaryOp};
use super::pool::Pool;
use super::{numel, EvalError, Float, Graph, NodeId, Value};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn, Zip};
use rayon::prelude::*;

/// Elementwise kernels with at least this many elements run in parallel.
const PAR_MIN: usize = 1 << 15;
/// Fixed accumulation chunk of reductions (independent of the thread count).
const CHUNK: usize = 1 << 12;
/// Matrix products with at least this many multiply-adds are tiled and parallel.
pub(crate) const PAR_GEMM: usize = 1 << 21;
/// Tiles of a parallel product: at least this many (see [`tile_shape`]). Measured
/// on 2 cores: 2 packs least but balances badly when a core is busy or when two
/// products run at once (the linear layer's backward); 8 repacks more (1024³ ~7 %
/// slower); 4 is the compromise.
pub(crate) const MIN_TILES: usize = 4;

fn internal(msg: impl Into<String>) -> EvalError {
    EvalError::Internal(msg.into())
}

/// Computes the value of node `id` from the values of its inputs.
pub(crate) fn forward<T: Float>(
    g: &Graph,
    id: NodeId,
    ins: &[&Value<T>],
    pool: &Pool<T>,
) -> Result<Value<T>, EvalError> {
    let node = g.node(id);
    let shape = node.shape.as_slice();
    let arg = |k: usize| -> Result<&ArrayD<T>, EvalError> {
        ins.get(k)
            .ok_or_else(|| internal(format!("{} is missing input {k}", node.op.name())))?
            .float_or_err()
    };
    let out = match &node.op {
        Op::Conv2d(win) => super::conv::conv2d(arg(0)?, arg(1)?, win, shape, pool)?,
        Op::Conv2dInputGrad { win, .. } => {
            super::conv::conv2d_input_grad(arg(0)?, arg(1)?, win, shape, pool)?
        }
        Op::Conv2dWeightGrad(win) => {
            super::conv::conv2d_weight_grad(arg(0)?, arg(1)?, win, shape, pool)?
        }
        Op::PoolSelect(win) => super::conv::pool_select(arg(0)?, arg(1)?, win, shape, pool)?,
        Op::PoolScatter { win, .. } => {
            super::conv::pool_scatter(arg(0)?, arg(1)?, win, shape, pool)?
        }
        Op::PoolSum(win) => super::conv::pool_sum(arg(0)?, win, shape, pool)?,
        Op::PoolSumT { win, .. } => super::conv::pool_sum_t(arg(0)?, win, shape, pool)?,
        Op::ArgReduce { max, axis } => {
            return Ok(Value::Int(arg_reduce(arg(0)?, *max, *axis, shape)?))
        }
        Op::Accuracy => {
            let logits = arg(0)?;
            let labels = ins
                .get(1)
                .ok_or_else(|| internal("accuracy labels"))?
                .int_or_err()?;
            let best = arg_reduce(logits, true, 1, &shape_of_rows(logits))?;
            let hits = best
                .iter()
                .zip(labels.iter())
                .filter(|(a, b)| a == b)
                .count();
            let n = labels.len().max(1);
            ArrayD::from_elem(IxDyn(&[]), T::from_f64(hits as f64 / n as f64))
        }
        Op::Arange { n } => {
            return Ok(Value::Int(
                ArrayD::from_shape_vec(IxDyn(&[*n]), (0..*n as i64).collect())
                    .map_err(|e| internal(format!("arange: {e}")))?,
            ))
        }
        Op::Concat { axis } => {
            let parts = (0..ins.len())
                .map(|k| arg(k).map(|a| a.view()))
                .collect::<Result<Vec<_>, _>>()?;
            ndarray::concatenate(ndarray::Axis(*axis), &parts)
                .map_err(|e| internal(format!("concat: {e}")))?
        }
        Op::Narrow { axis, start, len } => arg(0)?
            .slice_axis(
                ndarray::Axis(*axis),
                ndarray::Slice::from(*start..*start + *len),
            )
            .to_owned(),
        Op::Leaf { .. } | Op::Seed { .. } => {
            return Err(internal("leaves and seeds are bound by the evaluator"))
        }
        Op::Constant { value, .. } => ArrayD::from_elem(IxDyn(shape), T::from_f64(*value)),
        Op::Literal { data, .. } => {
            ArrayD::from_shape_vec(IxDyn(shape), data.iter().map(|&v| T::from_f64(v)).collect())
                .map_err(|e| internal(format!("literal: {e}")))?
        }
        Op::Unary(u) => unary(*u, arg(0)?, pool),
        Op::Binary(b) => binary(*b, arg(0)?, arg(1)?, shape, pool)?,
        Op::MatMul { trans_a, trans_b } => {
            matmul(arg(0)?, arg(1)?, *trans_a, *trans_b, shape, pool)?
        }
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
        Op::BroadcastTo { .. } => {
            let src = arg(0)?
                .broadcast(IxDyn(shape))
                .ok_or_else(|| internal("broadcast_to"))?;
            let mut out = ArrayD::from_shape_vec(IxDyn(shape), pool.take(numel(shape)))
                .map_err(|e| internal(format!("broadcast_to: {e}")))?;
            out.assign(&src);
            out
        }
        Op::Reduce { kind, axes, .. } => reduce(arg(0)?, axes, *kind, shape, pool)?,
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
        Op::Jacobian(plan) => return eval_jacobian(g, id, plan, ins, pool),
        Op::Select => {
            let (c, a, b) = (arg(0)?, arg(1)?, arg(2)?);
            let sh = IxDyn(shape);
            let (c, a, b) = (
                c.broadcast(sh.clone()).ok_or_else(|| internal("select"))?,
                a.broadcast(sh.clone()).ok_or_else(|| internal("select"))?,
                b.broadcast(sh.clone()).ok_or_else(|| internal("select"))?,
            );
            let mut out = ArrayD::from_shape_vec(sh, pool.take(numel(shape)))
                .map_err(|e| internal(format!("select: {e}")))?;
            ndarray::Zip::from(&mut out)
                .and(&c)
                .and(&a)
                .and(&b)
                .for_each(|o, &c, &a, &b| *o = if c != T::zero() { a } else { b });
            out
        }
        Op::IntToFloat => {
            let x = ins
                .first()
                .ok_or_else(|| internal("int_to_float input"))?
                .int_or_err()?;
            x.mapv(|v| T::from_f64(v as f64))
        }
        Op::Slice { ranges } => {
            let x = arg(0)?;
            x.slice_each_axis(|ax| {
                let (start, len, step) = ranges[ax.axis.index()];
                ndarray::Slice::new(
                    start as isize,
                    Some((start + len.saturating_sub(1) * step + usize::from(len > 0)) as isize),
                    step as isize,
                )
            })
            .to_owned()
        }
        Op::Unslice { ranges, .. } => {
            let x = arg(0)?;
            let mut out = ArrayD::from_elem(IxDyn(shape), T::zero());
            out.slice_each_axis_mut(|ax| {
                let (start, len, step) = ranges[ax.axis.index()];
                ndarray::Slice::new(
                    start as isize,
                    Some((start + len.saturating_sub(1) * step + usize::from(len > 0)) as isize),
                    step as isize,
                )
            })
            .assign(x);
            out
        }
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

/// `[N]` for logits `[N, C]`.
fn shape_of_rows<T>(x: &ArrayD<T>) -> Vec<usize> {
    x.shape()[..1].to_vec()
}

/// The index of the first maximum (or minimum) along `axis`; NaN counts as the
/// extremum (NumPy).
fn arg_reduce<T: Float>(
    x: &ArrayD<T>,
    max: bool,
    axis: usize,
    out_shape: &[usize],
) -> Result<ArrayD<i64>, EvalError> {
    let lanes = x.lanes(ndarray::Axis(axis));
    let out: Vec<i64> = lanes
        .into_iter()
        .map(|lane| {
            let mut best = 0usize;
            let mut bv = lane[0];
            for (i, &v) in lane.iter().enumerate().skip(1) {
                if bv.is_nan() {
                    break;
                }
                if v.is_nan() || (max && v > bv) || (!max && v < bv) {
                    best = i;
                    bv = v;
                }
            }
            best as i64
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| internal(format!("argmax: {e}")))
}

/// `f` over every element, into a pooled buffer; contiguous inputs go through
/// plain slices (split in fixed chunks across threads when large).
fn map1<T: Float>(x: &ArrayD<T>, pool: &Pool<T>, f: impl Fn(T) -> T + Sync + Send) -> ArrayD<T> {
    let Some(xs) = x.as_slice() else {
        return if x.len() >= PAR_MIN {
            Zip::from(x).par_map_collect(|&v| f(v))
        } else {
            x.mapv(f)
        };
    };
    let mut out = pool.take(xs.len());
    if xs.len() >= PAR_MIN {
        out.par_chunks_mut(CHUNK)
            .zip(xs.par_chunks(CHUNK))
            .for_each(|(o, i)| o.iter_mut().zip(i).for_each(|(o, &v)| *o = f(v)));
    } else {
        out.iter_mut().zip(xs).for_each(|(o, &v)| *o = f(v));
    }
    // SAFETY: `out` has exactly as many elements as `x`, whose dimension is reused.
    unsafe { ArrayD::from_shape_vec_unchecked(x.raw_dim(), out) }
}

fn unary<T: Float>(u: UnaryOp, x: &ArrayD<T>, pool: &Pool<T>) -> ArrayD<T> {
    let zero = T::zero();
    let one = T::one();
    match u {
        UnaryOp::Erf => map1(x, pool, |v| v.erf()),
        UnaryOp::Log1p => map1(x, pool, |v| v.ln_1p()),
        UnaryOp::Expm1 => map1(x, pool, |v| v.exp_m1()),
        // max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|
        UnaryOp::Softplus => map1(x, pool, |v| {
            let r = if v > zero { v } else { zero };
            r + (-v.abs()).exp().ln_1p()
        }),
        UnaryOp::Floor => map1(x, pool, |v| v.floor()),
        UnaryOp::Ceil => map1(x, pool, |v| v.ceil()),
        UnaryOp::Round => map1(x, pool, |v| v.round_even()),
        UnaryOp::Neg => map1(x, pool, |v| -v),
        UnaryOp::Exp => map1(x, pool, |v| v.exp()),
        UnaryOp::Log => map1(x, pool, |v| v.ln()),
        UnaryOp::Sqrt => map1(x, pool, |v| v.sqrt()),
        UnaryOp::Tanh => map1(x, pool, |v| v.tanh()),
        UnaryOp::Sigmoid => map1(x, pool, |v| {
            if v >= zero {
                one / (one + (-v).exp())
            } else {
                let e = v.exp();
                e / (one + e)
            }
        }),
        UnaryOp::Relu => map1(x, pool, |v| if v < zero { zero } else { v }),
        UnaryOp::Abs => map1(x, pool, |v| v.abs()),
        UnaryOp::Sin => map1(x, pool, |v| v.sin()),
        UnaryOp::Cos => map1(x, pool, |v| v.cos()),
        UnaryOp::Sign => map1(x, pool, |v| {
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
        UnaryOp::SafeLog => map1(x, pool, |v| if v > zero { v.ln() } else { zero }),
    }
}

/// `f` over the broadcast pair, into a pooled buffer. Fast paths for the common
/// cases (same shape, or a scalar operand, with contiguous data) go through plain
/// slices; anything else through ndarray's broadcasting `Zip`.
fn map2<T: Float>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    pool: &Pool<T>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Result<ArrayD<T>, EvalError> {
    let len = numel(shape);
    let mut out = pool.take(len);
    let par = len >= PAR_MIN;
    match (a.as_slice(), b.as_slice()) {
        (Some(xs), Some(ys)) if xs.len() == len && ys.len() == len => {
            if par {
                out.par_chunks_mut(CHUNK)
                    .zip(xs.par_chunks(CHUNK).zip(ys.par_chunks(CHUNK)))
                    .for_each(|(o, (x, y))| {
                        for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                            *o = f(x, y);
                        }
                    });
            } else {
                for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
                    *o = f(x, y);
                }
            }
        }
        (Some(xs), _) if xs.len() == len && b.len() == 1 => {
            let y = *b.first().expect("one element");
            if par {
                out.par_chunks_mut(CHUNK)
                    .zip(xs.par_chunks(CHUNK))
                    .for_each(|(o, x)| o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x, y)));
            } else {
                out.iter_mut().zip(xs).for_each(|(o, &x)| *o = f(x, y));
            }
        }
        (_, Some(ys)) if ys.len() == len && a.len() == 1 => {
            let x = *a.first().expect("one element");
            if par {
                out.par_chunks_mut(CHUNK)
                    .zip(ys.par_chunks(CHUNK))
                    .for_each(|(o, y)| o.iter_mut().zip(y).for_each(|(o, &y)| *o = f(x, y)));
            } else {
                out.iter_mut().zip(ys).for_each(|(o, &y)| *o = f(x, y));
            }
        }
        (Some(xs), Some(ys)) if xs.len() == len && is_row_of(b.shape(), shape) => {
            rows2(&mut out, xs, ys, par, &f);
        }
        (Some(xs), Some(ys)) if ys.len() == len && is_row_of(a.shape(), shape) => {
            rows2(&mut out, ys, xs, par, |y, x| f(x, y));
        }
        _ => {
            let av = a
                .broadcast(IxDyn(shape))
                .ok_or_else(|| internal("binary operand does not broadcast"))?;
            let bv = b
                .broadcast(IxDyn(shape))
                .ok_or_else(|| internal("binary operand does not broadcast"))?;
            let mut o = ArrayViewMutD::from_shape(IxDyn(shape), &mut out)
                .map_err(|e| internal(format!("binary output: {e}")))?;
            let z = Zip::from(&mut o).and(&av).and(&bv);
            if par {
                z.par_for_each(|o, &x, &y| *o = f(x, y));
            } else {
                z.for_each(|o, &x, &y| *o = f(x, y));
            }
        }
    }
    // the dimension of an operand of the output's shape, when there is one, is
    // reused instead of being rebuilt from `shape`
    let dim = if a.shape() == shape {
        a.raw_dim()
    } else if b.shape() == shape {
        b.raw_dim()
    } else {
        IxDyn(shape)
    };
    // SAFETY: `out` has `numel(shape)` elements and `dim` is `shape`.
    Ok(unsafe { ArrayD::from_shape_vec_unchecked(dim, out) })
}

/// Whether an operand of shape `small` broadcasts against `shape` as one row
/// repeated: its non-1 part is a non-empty suffix of `shape` (a bias `[M]` against
/// `[N, M]`).
fn is_row_of(small: &[usize], shape: &[usize]) -> bool {
    let s: &[usize] = {
        let first = small.iter().position(|&d| d != 1).unwrap_or(small.len());
        &small[first..]
    };
    !s.is_empty() && s.len() <= shape.len() && shape[shape.len() - s.len()..] == *s
}

/// `out[i, j] = f(full[i, j], row[j])` over rows of `row.len()` elements.
fn rows2<T: Float>(
    out: &mut [T],
    full: &[T],
    row: &[T],
    par: bool,
    f: impl Fn(T, T) -> T + Sync + Send,
) {
    let w = row.len();
    let each = |o: &mut [T], x: &[T]| {
        for (o, x) in o.chunks_mut(w).zip(x.chunks(w)) {
            for ((o, &x), &y) in o.iter_mut().zip(x).zip(row) {
                *o = f(x, y);
            }
        }
    };
    let block = CHUNK.div_ceil(w) * w;
    if par {
        out.par_chunks_mut(block)
            .zip(full.par_chunks(block))
            .for_each(|(o, x)| each(o, x));
    } else {
        each(out, full);
    }
}

fn binary<T: Float>(
    op: BinaryOp,
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let (zero, one) = (T::zero(), T::one());
    match op {
        BinaryOp::Add => map2(a, b, shape, pool, |x, y| x + y),
        BinaryOp::Sub => map2(a, b, shape, pool, |x, y| x - y),
        BinaryOp::Mul => map2(a, b, shape, pool, |x, y| x * y),
        BinaryOp::Div => map2(a, b, shape, pool, |x, y| x / y),
        BinaryOp::Pow => map2(a, b, shape, pool, |x, y| x.powf(y)),
        BinaryOp::Maximum => map2(
            a,
            b,
            shape,
            pool,
            |x, y| if x.is_nan() || x > y { x } else { y },
        ),
        BinaryOp::Minimum => map2(
            a,
            b,
            shape,
            pool,
            |x, y| if x.is_nan() || x < y { x } else { y },
        ),
        BinaryOp::Greater => map2(a, b, shape, pool, |x, y| if x > y { one } else { zero }),
        BinaryOp::Equal => map2(a, b, shape, pool, |x, y| if x == y { one } else { zero }),
    }
}

/// A view of matmul operand `x` with its batch dimensions broadcast to `batch`.
fn with_batch<'a, T>(x: &'a ArrayD<T>, batch: &[usize]) -> Result<ArrayViewD<'a, T>, EvalError> {
    let mut s = batch.to_vec();
    s.extend_from_slice(&x.shape()[x.ndim() - 2..]);
    x.broadcast(IxDyn(&s))
        .ok_or_else(|| internal("matmul batch dimensions do not broadcast"))
}

/// Element offset of batch `t` (row-major over `batch`) in a view with `strides`.
fn batch_offset(batch: &[usize], strides: &[isize], t: usize) -> isize {
    let mut rem = t;
    let mut off = 0isize;
    for ax in (0..batch.len()).rev() {
        off += (rem % batch[ax]) as isize * strides[ax];
        rem /= batch[ax];
    }
    off
}

/// The fixed output tile of a product `[n, k] @ [k, m]`: a function of the shape
/// only, never of the thread count, so each output element is computed by the same
/// sequential GEMM call whatever the number of threads. Small products are one
/// tile. Large ones are cut into `r x c >= MIN_TILES` tiles, choosing the grid that
/// packs the fewest operand elements: every tile packs its rows of A (again for each
/// 1024 columns, the GEMM's panel width) and its columns of B, and packing costs
/// a quarter of the time of small tiles (measured on the MLP).
fn tile_shape(n: usize, m: usize, k: usize) -> (usize, usize) {
    if n.saturating_mul(m).saturating_mul(k) < PAR_GEMM {
        return (n.max(1), m.max(1));
    }
    let mut best = (usize::MAX, n, m);
    for r in 1..=MIN_TILES {
        let c = MIN_TILES.div_ceil(r);
        let (h, w) = (n.div_ceil(r), m.div_ceil(c));
        if (r > 1 && h < 16) || (c > 1 && w < 16) {
            continue;
        }
        let (r, c) = (n.div_ceil(h), m.div_ceil(w));
        let a_packs = c.max(m.div_ceil(1024));
        let cost = n * a_packs + m * r;
        if cost < best.0 {
            best = (cost, h, w);
        }
    }
    (best.1, best.2)
}

#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: every task writes a disjoint tile of the output.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Batched `op(a) @ op(b)` with broadcast batch dimensions. Operands are read in
/// place through their strides (a transpose is swapped strides, never a copy); the
/// output is written once by GEMM (`beta = 0`, no zero-fill first), tile by tile.
fn matmul<T: Float>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    ta: bool,
    tb: bool,
    out_shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let ro = out_shape.len();
    if ro < 2 || a.ndim() < 2 || b.ndim() < 2 {
        return Err(internal("matmul rank"));
    }
    let batch = &out_shape[..ro - 2];
    let nd = batch.len();
    let (n, m) = (out_shape[ro - 2], out_shape[ro - 1]);
    let (av, bv) = (with_batch(a, batch)?, with_batch(b, batch)?);
    let (sa, sb) = (av.strides(), bv.strides());
    let (rsa, csa) = if ta {
        (sa[nd + 1], sa[nd])
    } else {
        (sa[nd], sa[nd + 1])
    };
    let (rsb, csb) = if tb {
        (sb[nd + 1], sb[nd])
    } else {
        (sb[nd], sb[nd + 1])
    };
    let k = if ta {
        av.shape()[nd]
    } else {
        av.shape()[nd + 1]
    };
    let kb = if tb {
        bv.shape()[nd + 1]
    } else {
        bv.shape()[nd]
    };
    let an = if ta {
        av.shape()[nd + 1]
    } else {
        av.shape()[nd]
    };
    let bm = if tb {
        bv.shape()[nd]
    } else {
        bv.shape()[nd + 1]
    };
    if k != kb || an != n || bm != m {
        return Err(internal("matmul operand shapes"));
    }
    let len = numel(out_shape);
    if k == 0 || len == 0 {
        return Ok(ArrayD::zeros(IxDyn(out_shape)));
    }
    let nb = numel(batch);
    let (h, w) = tile_shape(n, m, k);
    let (rt, ct) = (n.div_ceil(h), m.div_ceil(w));
    let per_batch = rt * ct;
    let mut out: Vec<T> = pool.take(len);
    let c = SendPtr(out.as_mut_ptr());
    let (pa, pb) = (
        SendPtr(av.as_ptr() as *mut T),
        SendPtr(bv.as_ptr() as *mut T),
    );
    let task = |i: usize| {
        let (t, tile) = (i / per_batch, i % per_batch);
        let (r0, c0) = ((tile / ct) * h, (tile % ct) * w);
        let (hh, ww) = (h.min(n - r0), w.min(m - c0));
        let (c, pa, pb) = (c, pa, pb);
        // SAFETY: offsets stay inside the operands (shapes checked above); each task
        // writes its own tile of `out`, whose capacity is `len`.
        unsafe {
            let ap = pa.0.offset(batch_offset(batch, sa, t) + r0 as isize * rsa);
            let bp = pb.0.offset(batch_offset(batch, sb, t) + c0 as isize * csb);
            let cp = c.0.add(t * n * m + r0 * m + c0);
            T::gemm(
                hh,
                k,
                ww,
                T::one(),
                ap,
                rsa,
                csa,
                bp,
                rsb,
                csb,
                T::zero(),
                cp,
                m as isize,
                1,
            );
        }
    };
    let tasks = nb * per_batch;
    if tasks > 1 && nb.saturating_mul(n * m * k) >= PAR_GEMM {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| internal(format!("matmul: {e}")))
}

fn fold<T: Copy>(xs: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
    xs.iter().fold(init, |acc, &v| f(acc, v))
}

/// Reduces one contiguous row: fixed chunks, partials combined in order.
fn reduce_row<T: Float>(row: &[T], init: T, f: impl Fn(T, T) -> T + Copy + Sync) -> T {
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

/// Reduces the leading `r` rows of a contiguous `[r, k]` array (a bias gradient:
/// `sum(x, axis=0)`) without transposing it: rows are accumulated into the output
/// row in order, `CHUNK` rows at a time with the chunk partials combined in order,
/// so every output element sees exactly the sequence of operations of
/// [`reduce_row`] and results are bit-identical to the transposing path. Columns
/// are split across threads in fixed blocks.
fn reduce_leading<T: Float>(
    data: &[T],
    r: usize,
    (init, f): (T, impl Fn(T, T) -> T + Copy + Sync),
    out_shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let k = numel(out_shape);
    let mut out = pool.take(k);
    let cols = |c0: usize, o: &mut [T]| {
        let w = o.len();
        let fold_rows = |rows: std::ops::Range<usize>, acc: &mut [T]| {
            acc.fill(init);
            for i in rows {
                let row = &data[i * k + c0..i * k + c0 + w];
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a = f(*a, v);
                }
            }
        };
        if r <= CHUNK {
            fold_rows(0..r, o);
        } else {
            let mut part = vec![init; w];
            o.fill(init);
            for start in (0..r).step_by(CHUNK) {
                fold_rows(start..(start + CHUNK).min(r), &mut part);
                for (a, &p) in o.iter_mut().zip(&part) {
                    *a = f(*a, p);
                }
            }
        }
    };
    const COLS: usize = 256;
    if r * k >= PAR_MIN && k > COLS {
        out.par_chunks_mut(COLS)
            .enumerate()
            .for_each(|(b, o)| cols(b * COLS, o));
    } else {
        cols(0, &mut out);
    }
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| internal(format!("reduce: {e}")))
}

fn reduce<T: Float>(
    x: &ArrayD<T>,
    axes: &[usize],
    kind: ReduceOp,
    out_shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    // each kind is its own instance (an inlined, vectorizable combine, not a call
    // through a function pointer per element)
    match kind {
        ReduceOp::Sum => reduce_with(x, axes, (T::zero(), |a, b| a + b), out_shape, pool),
        ReduceOp::Max => reduce_with(
            x,
            axes,
            (
                T::neg_infinity(),
                |a: T, b: T| {
                    if b.is_nan() || b > a {
                        b
                    } else {
                        a
                    }
                },
            ),
            out_shape,
            pool,
        ),
        ReduceOp::Min => reduce_with(
            x,
            axes,
            (
                T::infinity(),
                |a: T, b: T| {
                    if b.is_nan() || b < a {
                        b
                    } else {
                        a
                    }
                },
            ),
            out_shape,
            pool,
        ),
    }
}

fn reduce_with<T: Float>(
    x: &ArrayD<T>,
    axes: &[usize],
    (init, f): (T, impl Fn(T, T) -> T + Copy + Sync),
    out_shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let nd = x.ndim();
    if axes.iter().any(|&a| a >= nd) {
        return Err(internal("reduction axis"));
    }
    let lead = axes.iter().enumerate().all(|(i, &a)| i == a);
    if lead && !axes.is_empty() && axes.len() < nd {
        if let Some(data) = x.as_slice() {
            let r: usize = x.shape()[..axes.len()].iter().product();
            return reduce_leading(data, r, (init, f), out_shape, pool);
        }
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

/// Two binary elementwise nodes computed in one pass: `outer(x, inner(y, z))`
/// (`pos == 1`) or `outer(inner(y, z), x)` (`pos == 0`), where the inner node has
/// the output's shape and no other reader. Each element is rounded exactly as by
/// the two separate kernels (the inner result is a `T` before the outer op; no
/// FMA), so fusing never changes a result bit. Only pairs with a measured use are
/// instantiated: the SGD update `W - lr * g` and relu's backward `g * (x > 0)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fused {
    outer: BinaryOp,
    inner: BinaryOp,
    pos: u8,
}

impl Fused {
    pub(crate) fn new(outer: BinaryOp, inner: BinaryOp, pos: usize) -> Option<Fused> {
        use BinaryOp::*;
        match (outer, inner) {
            (Add | Sub | Mul, Mul | Greater) => Some(Fused {
                outer,
                inner,
                pos: pos as u8,
            }),
            _ => None,
        }
    }

    /// The inner node of fused node `id`.
    pub(crate) fn inner_node(&self, g: &Graph, id: NodeId) -> NodeId {
        g.inputs(id)[self.pos as usize]
    }
}

/// Runs a fused pair; `ins` are the outer node's other operand, then the inner
/// node's two operands.
pub(crate) fn fused<T: Float>(
    g: &Graph,
    id: NodeId,
    f: Fused,
    ins: &[&Value<T>; 3],
    pool: &Pool<T>,
) -> Result<Value<T>, EvalError> {
    let shape = g.node(id).shape.as_slice();
    let (x, y, z) = (
        ins[0].float_or_err()?,
        ins[1].float_or_err()?,
        ins[2].float_or_err()?,
    );
    let len = numel(shape);
    fn fits<T>(a: &ArrayD<T>, len: usize) -> Option<&[T]> {
        a.as_slice().filter(|s| s.len() == len || s.len() == 1)
    }
    let (Some(xs), Some(ys), Some(zs)) = (fits(x, len), fits(y, len), fits(z, len)) else {
        // general layouts and broadcasts: the two kernels one after the other
        let t = binary(f.inner, y, z, shape, pool)?;
        let out = if f.pos == 0 {
            binary(f.outer, &t, x, shape, pool)?
        } else {
            binary(f.outer, x, &t, shape, pool)?
        };
        pool.give_value(Value::Float(t));
        return Ok(Value::Float(out));
    };
    use BinaryOp::*;
    let (zero, one) = (T::zero(), T::one());
    let mut out = pool.take(len);
    macro_rules! go {
        ($fo:expr, $fi:expr) => {{
            let (fo, fi) = ($fo, $fi);
            if f.pos == 0 {
                fused_loop(&mut out, xs, ys, zs, |x, y, z| fo(fi(y, z), x))
            } else {
                fused_loop(&mut out, xs, ys, zs, |x, y, z| fo(x, fi(y, z)))
            }
        }};
    }
    let add = |a: T, b: T| a + b;
    let sub = |a: T, b: T| a - b;
    let mul = |a: T, b: T| a * b;
    let gt = move |a: T, b: T| if a > b { one } else { zero };
    match (f.outer, f.inner) {
        (Add, Mul) => go!(add, mul),
        (Sub, Mul) => go!(sub, mul),
        (Mul, Mul) => go!(mul, mul),
        (Add, Greater) => go!(add, gt),
        (Sub, Greater) => go!(sub, gt),
        (Mul, Greater) => go!(mul, gt),
        _ => return Err(internal("unsupported fused pair")),
    }
    let out =
        ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| internal(format!("fused: {e}")))?;
    Ok(Value::Float(out))
}

/// `out[i] = f(x[i], y[i], z[i])`, an operand of one element standing for all;
/// split in fixed chunks across threads when large.
fn fused_loop<T: Float>(
    out: &mut [T],
    xs: &[T],
    ys: &[T],
    zs: &[T],
    f: impl Fn(T, T, T) -> T + Sync + Send,
) {
    let each = |o: &mut [T], start: usize| {
        let at = |s: &[T], i: usize| if s.len() == 1 { s[0] } else { s[start + i] };
        for (i, o) in o.iter_mut().enumerate() {
            *o = f(at(xs, i), at(ys, i), at(zs, i));
        }
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, o)| each(o, c * CHUNK));
    } else {
        each(out, 0);
    }
}
