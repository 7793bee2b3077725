//! Public constructors: leaves, primitives (each checked by its shape rule) and
//! composite operations built from primitives (no rules of their own).

use super::op::{broadcasts_to, BinaryOp, Op, ReduceOp, UnaryOp, Window};
use super::{numel, DType, Graph, GraphError, NodeId, Shape};
use std::sync::Arc;

impl Graph {
    // ----- leaves -----

    /// A value supplied at evaluation time (an input or a parameter).
    pub fn leaf(&mut self, name: &str, shape: Shape, dtype: DType) -> NodeId {
        self.push(
            Op::Leaf {
                name: name.to_string(),
                shape,
                dtype,
            },
            vec![],
        )
        .expect("a leaf has no inputs and no shape rule to fail")
    }

    /// A tensor whose every element is `value`.
    pub fn constant(&mut self, value: f64, shape: Shape) -> NodeId {
        self.push(Op::Constant { value, shape }, vec![])
            .expect("a constant has no inputs and no shape rule to fail")
    }

    /// A scalar constant (one node per distinct value).
    pub fn scalar(&mut self, value: f64) -> NodeId {
        if let Some(&n) = self.scalars.get(&value.to_bits()) {
            return n;
        }
        let n = self.constant(value, vec![]);
        self.scalars.insert(value.to_bits(), n);
        n
    }

    /// A row-major tensor literal; an error if `data.len()` differs from the shape's
    /// element count.
    pub fn literal(&mut self, data: Vec<f64>, shape: Shape) -> Result<NodeId, GraphError> {
        self.push(
            Op::Literal {
                data: Arc::from(data),
                shape,
            },
            vec![],
        )
    }

    pub(crate) fn zeros_like_shape(&mut self, shape: &[usize]) -> NodeId {
        self.constant(0.0, shape.to_vec())
    }

    // ----- activations, rounding (issue 10) -----

    /// The error function.
    pub fn erf(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Erf, x)
    }
    /// `ln(1 + x)`.
    pub fn log1p(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Log1p, x)
    }
    /// `exp(x) - 1`.
    pub fn expm1(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Expm1, x)
    }
    /// `ln(1 + exp(x))`, stable.
    pub fn softplus(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Softplus, x)
    }
    pub fn floor(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Floor, x)
    }
    pub fn ceil(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Ceil, x)
    }
    /// Half to even (NumPy).
    pub fn round(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Round, x)
    }

    /// `x * sigmoid(x)`.
    pub fn silu(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        let s = self.sigmoid(x)?;
        self.mul(x, s)
    }

    /// `0.5 x (1 + erf(x / sqrt 2))`, or with `approximate` the tanh form
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))`.
    pub fn gelu(&mut self, x: NodeId, approximate: bool) -> Result<NodeId, GraphError> {
        let inner = if approximate {
            let x2 = self.mul(x, x)?;
            let x3 = self.mul(x2, x)?;
            let c = self.scale(x3, 0.044715)?;
            let u = self.add(x, c)?;
            let u = self.scale(u, (2.0 / std::f64::consts::PI).sqrt())?;
            self.tanh(u)?
        } else {
            let u = self.scale(x, std::f64::consts::FRAC_1_SQRT_2)?;
            self.erf(u)?
        };
        let one = self.scalar(1.0);
        let p = self.add(inner, one)?;
        let h = self.scale(x, 0.5)?;
        self.mul(h, p)
    }

    /// `x` where `x > 0`, else `slope * x`; the derivative at 0 is `slope`.
    pub fn leaky_relu(&mut self, x: NodeId, slope: f64) -> Result<NodeId, GraphError> {
        let zero = self.scalar(0.0);
        let pos = self.greater(x, zero)?;
        let k = self.scale(pos, 1.0 - slope)?;
        let s = self.scalar(slope);
        let factor = self.add(k, s)?;
        self.mul(x, factor)
    }

    /// `x` where `x > 0`, else `alpha (exp(x) - 1)`; the derivative at 0 is `alpha`.
    pub fn elu(&mut self, x: NodeId, alpha: f64) -> Result<NodeId, GraphError> {
        let zero = self.scalar(0.0);
        let pos = self.greater(x, zero)?;
        let one = self.scalar(1.0);
        let nonpos = self.sub(one, pos)?;
        let xn = self.mul(x, nonpos)?;
        let e = self.expm1(xn)?;
        let e = self.scale(e, alpha)?;
        let r = self.relu(x)?;
        self.add(r, e)
    }

    /// `x` limited to `[low, high]` (bounds broadcast); the derivative w.r.t. `x` is
    /// 1 where `low <= x <= high` (bounds included), w.r.t. a bound 1 where it is
    /// the result.
    pub fn clip(&mut self, x: NodeId, low: NodeId, high: NodeId) -> Result<NodeId, GraphError> {
        let below = self.greater(low, x)?;
        let above = self.greater(x, high)?;
        let one = self.scalar(1.0);
        let out_below = self.sub(one, below)?;
        let out_above = self.sub(one, above)?;
        let inside = self.mul(out_below, out_above)?;
        let a = self.mul(x, inside)?;
        let b = self.mul(low, below)?;
        let c = self.mul(high, above)?;
        let ab = self.add(a, b)?;
        self.add(ab, c)
    }

    // ----- statistics (issue 10) -----

    /// Variance over `axes` with `correction` subtracted from the count (0: the
    /// population variance, as `numpy.var`).
    pub fn var(
        &mut self,
        x: NodeId,
        axes: &[usize],
        keepdims: bool,
        correction: f64,
    ) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        let shape = self.shape(x).to_vec();
        let count: usize = axes
            .iter()
            .map(|&a| shape.get(a).copied().unwrap_or(1))
            .product();
        let m = self.mean(x, axes, true)?;
        let d = self.sub(x, m)?;
        let d2 = self.mul(d, d)?;
        let s = self.sum(d2, axes, keepdims)?;
        self.scale(s, 1.0 / (count as f64 - correction))
    }

    /// Euclidean norm over `axes`.
    pub fn norm(
        &mut self,
        x: NodeId,
        axes: &[usize],
        keepdims: bool,
    ) -> Result<NodeId, GraphError> {
        let x2 = self.mul(x, x)?;
        let s = self.sum(x2, axes, keepdims)?;
        self.sqrt(s)
    }

    /// Index of the first maximum (`max`) or minimum along `axis` (an int tensor).
    pub fn arg_reduce(&mut self, x: NodeId, axis: usize, max: bool) -> Result<NodeId, GraphError> {
        self.push(Op::ArgReduce { max, axis }, vec![x])
    }

    /// Fraction of rows of `logits [N, C]` whose first argmax equals the label.
    pub fn accuracy(&mut self, logits: NodeId, labels: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::Accuracy, vec![logits, labels])
    }

    // ----- structure (issue 10) -----

    /// `[0, 1, .., n - 1]` as an int tensor.
    pub fn arange(&mut self, n: usize) -> Result<NodeId, GraphError> {
        self.push(Op::Arange { n }, vec![])
    }

    /// The identity matrix `[n, n]`.
    pub fn eye(&mut self, n: usize) -> Result<NodeId, GraphError> {
        let mut data = vec![0.0; n * n];
        for i in 0..n {
            data[i * n + i] = 1.0;
        }
        self.literal(data, vec![n, n])
    }

    /// Keeps the lower (`upper == false`: `j - i <= k`) or upper (`j - i >= k`)
    /// triangle of the last two axes, zeros elsewhere: a product with a 0/1 mask.
    pub fn triangle(&mut self, x: NodeId, k: i64, upper: bool) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        let s = self.shape(x).to_vec();
        if s.len() < 2 {
            return Err(GraphError::InvalidArgument {
                op: if upper { "triu" } else { "tril" },
                message: format!("needs at least two axes, got {s:?}"),
            });
        }
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        let mut data = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                let d = j as i64 - i as i64;
                if (upper && d >= k) || (!upper && d <= k) {
                    data[i * c + j] = 1.0;
                }
            }
        }
        let mask = self.literal(data, vec![r, c])?;
        self.mul(x, mask)
    }

    /// Joins tensors along `axis` (other axes equal).
    pub fn concat(&mut self, xs: &[NodeId], axis: usize) -> Result<NodeId, GraphError> {
        if xs.len() == 1 {
            return Ok(xs[0]);
        }
        self.push(Op::Concat { axis }, xs.to_vec())
    }

    /// Entries `start..start + len` along `axis`.
    pub fn narrow(
        &mut self,
        x: NodeId,
        axis: usize,
        start: usize,
        len: usize,
    ) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        if start == 0 && self.shape(x).get(axis) == Some(&len) {
            return Ok(x);
        }
        self.push(Op::Narrow { axis, start, len }, vec![x])
    }

    /// Tensors of one shape stacked along a new axis `axis`.
    pub fn stack(&mut self, xs: &[NodeId], axis: usize) -> Result<NodeId, GraphError> {
        let mut parts = Vec::with_capacity(xs.len());
        for &x in xs {
            self.check_id(x)?;
            let mut s = self.shape(x).to_vec();
            if axis > s.len() {
                return Err(GraphError::InvalidArgument {
                    op: "stack",
                    message: format!("axis {axis} out of range for {s:?}"),
                });
            }
            s.insert(axis, 1);
            parts.push(self.reshape(x, s)?);
        }
        self.concat(&parts, axis)
    }

    // ----- convolution and pooling (issue 10), channels last -----

    pub(crate) fn conv2d_input_grad(
        &mut self,
        g: NodeId,
        w: NodeId,
        win: &Window,
        input: [usize; 2],
    ) -> Result<NodeId, GraphError> {
        self.push(
            Op::Conv2dInputGrad {
                win: win.clone(),
                input,
            },
            vec![g, w],
        )
    }

    /// `x` with its leading axes (before the last `keep`) merged into one, and the
    /// leading shape to restore.
    fn batch_of(&mut self, x: NodeId, keep: usize) -> Result<(NodeId, Shape), GraphError> {
        self.check_id(x)?;
        let s = self.shape(x).to_vec();
        if s.len() < keep {
            return Err(GraphError::ShapeMismatch {
                op: "conv",
                message: format!("needs at least {keep} axes, got {s:?}"),
            });
        }
        let lead = s[..s.len() - keep].to_vec();
        let mut flat = vec![numel(&lead)];
        flat.extend_from_slice(&s[s.len() - keep..]);
        Ok((self.reshape(x, flat)?, lead))
    }

    fn unbatch(&mut self, y: NodeId, lead: &[usize]) -> Result<NodeId, GraphError> {
        let s = self.shape(y).to_vec();
        let mut out = lead.to_vec();
        out.extend_from_slice(&s[1..]);
        self.reshape(y, out)
    }

    /// `x [.., H, W, C]` conv `w [KH, KW, C, O]` -> `[.., OH, OW, O]`; `win.size`
    /// must be `[KH, KW]`.
    pub fn conv2d(&mut self, x: NodeId, w: NodeId, win: &Window) -> Result<NodeId, GraphError> {
        let (xb, lead) = self.batch_of(x, 3)?;
        let y = self.push(Op::Conv2d(win.clone()), vec![xb, w])?;
        self.unbatch(y, &lead)
    }

    /// `x [.., L, C]` conv `w [K, C, O]` -> `[.., L', O]`: a conv2d with H = 1.
    pub fn conv1d(
        &mut self,
        x: NodeId,
        w: NodeId,
        stride: usize,
        pad: (usize, usize),
        dilation: usize,
    ) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        self.check_id(w)?;
        let (xb, lead) = self.batch_of(x, 2)?;
        let s = self.shape(xb).to_vec();
        let x4 = self.reshape(xb, vec![s[0], 1, s[1], s[2]])?;
        let ws = self.shape(w).to_vec();
        if ws.len() != 3 {
            return Err(GraphError::ShapeMismatch {
                op: "conv1d",
                message: format!("the weight must be [K, C, O], got {ws:?}"),
            });
        }
        let w4 = self.reshape(w, vec![1, ws[0], ws[1], ws[2]])?;
        let win = Window {
            size: [1, ws[0]],
            stride: [1, stride],
            dilation: [1, dilation],
            pad_lo: [0, pad.0],
            pad_hi: [0, pad.1],
        };
        let y = self.push(Op::Conv2d(win), vec![x4, w4])?;
        let ys = self.shape(y).to_vec();
        let mut out = lead;
        out.extend_from_slice(&[ys[2], ys[3]]);
        self.reshape(y, out)
    }

    /// Max over windows of `x [.., H, W, C]`; the derivative goes to the first
    /// maximum of each window (row-major).
    pub fn max_pool2d(&mut self, x: NodeId, win: &Window) -> Result<NodeId, GraphError> {
        let (xb, lead) = self.batch_of(x, 3)?;
        let y = self.push(Op::PoolSelect(win.clone()), vec![xb, xb])?;
        self.unbatch(y, &lead)
    }

    /// Mean over windows of `x [.., H, W, C]`, padded zeros counted.
    pub fn avg_pool2d(&mut self, x: NodeId, win: &Window) -> Result<NodeId, GraphError> {
        let (xb, lead) = self.batch_of(x, 3)?;
        let y = self.push(Op::PoolSum(win.clone()), vec![xb])?;
        let y = self.scale(y, 1.0 / (win.size[0] * win.size[1]) as f64)?;
        self.unbatch(y, &lead)
    }

    // ----- elementwise -----

    fn unary(&mut self, u: UnaryOp, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::Unary(u), vec![x])
    }

    fn binary(&mut self, b: BinaryOp, x: NodeId, y: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::Binary(b), vec![x, y])
    }

    pub fn neg(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Neg, x)
    }
    pub fn exp(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Exp, x)
    }
    pub fn log(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Log, x)
    }
    pub fn sqrt(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Sqrt, x)
    }
    pub fn tanh(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Tanh, x)
    }
    pub fn sigmoid(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Sigmoid, x)
    }
    pub fn relu(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Relu, x)
    }
    pub fn abs(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Abs, x)
    }
    pub fn sin(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Sin, x)
    }
    pub fn cos(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Cos, x)
    }
    /// -1, 0 or 1 elementwise; derivative zero.
    pub fn sign(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::Sign, x)
    }
    /// `ln x` where `x > 0`, 0 elsewhere.
    pub fn safe_log(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.unary(UnaryOp::SafeLog, x)
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Add, a, b)
    }
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Sub, a, b)
    }
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Mul, a, b)
    }
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Div, a, b)
    }
    /// `a ** p` elementwise. Derivative w.r.t. `p` is `a^p ln a` where `a > 0` and 0
    /// where `a <= 0` (the limit at 0 for `p > 0`; undefined for negative bases).
    pub fn pow(&mut self, a: NodeId, p: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Pow, a, p)
    }
    /// Elementwise maximum; at ties the derivative is split evenly.
    pub fn maximum(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Maximum, a, b)
    }
    /// Elementwise minimum; at ties the derivative is split evenly.
    pub fn minimum(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Minimum, a, b)
    }
    /// 1.0 where `a > b`, else 0.0 (derivative zero).
    pub fn greater(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Greater, a, b)
    }
    /// 1.0 where `a == b`, else 0.0 (derivative zero).
    pub fn equal(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.binary(BinaryOp::Equal, a, b)
    }

    /// `x * c` for a scalar constant `c`.
    pub(crate) fn scale(&mut self, x: NodeId, c: f64) -> Result<NodeId, GraphError> {
        let s = self.scalar(c);
        self.mul(x, s)
    }

    // ----- matrix products -----

    /// NumPy `matmul`: `[.., n, k] @ [.., k, m]` with broadcast batch dimensions,
    /// `[k] @ [.., k, m] -> [.., m]`, `[.., n, k] @ [k] -> [.., n]`, `[k] @ [k] -> []`.
    /// A scalar operand is an error. An operand that is a transpose of the last two
    /// axes is folded into the product (passed to GEMM as strides).
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(a)?;
        self.check_id(b)?;
        let (ra, rb) = (self.shape(a).len(), self.shape(b).len());
        if ra == 0 || rb == 0 {
            return Err(GraphError::ShapeMismatch {
                op: "matmul",
                message: format!(
                    "matmul of a scalar: {:?} @ {:?}",
                    self.shape(a),
                    self.shape(b)
                ),
            });
        }
        let a2 = if ra == 1 {
            let k = self.shape(a)[0];
            self.reshape(a, vec![1, k])?
        } else {
            a
        };
        let b2 = if rb == 1 {
            let k = self.shape(b)[0];
            self.reshape(b, vec![k, 1])?
        } else {
            b
        };
        let (a3, ta) = self.fold_transpose(a2);
        let (b3, tb) = self.fold_transpose(b2);
        let c = self.push(
            Op::MatMul {
                trans_a: ta,
                trans_b: tb,
            },
            vec![a3, b3],
        )?;
        if ra > 1 && rb > 1 {
            return Ok(c);
        }
        let mut s = self.shape(c).to_vec();
        // drop the axes added for vector operands: first the column (b), then the row (a)
        if rb == 1 {
            s.pop();
        }
        if ra == 1 {
            let at = s.len() - if rb == 1 { 1 } else { 2 };
            s.remove(at);
        }
        self.reshape(c, s)
    }

    /// If `x` is a transpose swapping only its last two axes, its input and `true`.
    fn fold_transpose(&self, x: NodeId) -> (NodeId, bool) {
        let node = self.node(x);
        if let Op::Transpose { perm } = &node.op {
            let r = perm.len();
            let swaps_last_two = r >= 2
                && perm[..r - 2].iter().enumerate().all(|(i, &p)| i == p)
                && perm[r - 2] == r - 1
                && perm[r - 1] == r - 2;
            if swaps_last_two {
                return (node.inputs[0], true);
            }
        }
        (x, false)
    }

    /// The generalized matrix product: contracts the last `k` axes of `a` with the
    /// first `k` of `b`; result shape `a[:-k] ++ b[k:]`. One GEMM.
    pub fn tensordot(&mut self, a: NodeId, b: NodeId, k: usize) -> Result<NodeId, GraphError> {
        self.check_id(a)?;
        self.check_id(b)?;
        let sa = self.shape(a).to_vec();
        let sb = self.shape(b).to_vec();
        if k > sa.len() || k > sb.len() || sa[sa.len() - k..] != sb[..k] {
            return Err(GraphError::ShapeMismatch {
                op: "tensordot",
                message: format!(
                    "cannot contract the last {k} axes of {sa:?} with the first {k} of {sb:?}"
                ),
            });
        }
        let (ka, kb) = (&sa[..sa.len() - k], &sb[k..]);
        let inner = numel(&sb[..k]);
        let a2 = self.reshape(a, vec![numel(ka), inner])?;
        let b2 = self.reshape(b, vec![inner, numel(kb)])?;
        let c = self.push(
            Op::MatMul {
                trans_a: false,
                trans_b: false,
            },
            vec![a2, b2],
        )?;
        let mut out = ka.to_vec();
        out.extend_from_slice(kb);
        self.reshape(c, out)
    }

    // ----- structure -----

    pub fn transpose(&mut self, x: NodeId, perm: &[usize]) -> Result<NodeId, GraphError> {
        self.push(
            Op::Transpose {
                perm: perm.to_vec(),
            },
            vec![x],
        )
    }

    /// NumPy `.T`: reverses all axes.
    pub fn reverse_axes(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        let perm: Vec<usize> = (0..self.shape(x).len()).rev().collect();
        self.transpose(x, &perm)
    }

    /// Row-major reshape; returns `x` itself when the shape is unchanged.
    pub fn reshape(&mut self, x: NodeId, shape: Shape) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        if self.shape(x) == shape.as_slice() && self.dtype(x) == DType::Float {
            return Ok(x);
        }
        self.push(Op::Reshape { shape }, vec![x])
    }

    /// NumPy `broadcast_to`; returns `x` itself when the shape is unchanged.
    pub fn broadcast_to(&mut self, x: NodeId, shape: Shape) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        if self.shape(x) == shape.as_slice() && self.dtype(x) == DType::Float {
            return Ok(x);
        }
        self.push(Op::BroadcastTo { shape }, vec![x])
    }

    /// `take(x, idx, axis)`: `x[:axis] ++ idx ++ x[axis+1:]`, as a product with
    /// `one_hot(idx)` (so its VJP is the scatter-add `one_hot(idx)ᵀ g` and its
    /// JVP the same selection of the tangent).
    pub fn take(&mut self, x: NodeId, idx: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        let xs = self.shape(x).to_vec();
        let n = *xs.get(axis).ok_or_else(|| GraphError::InvalidArgument {
            op: "take",
            message: format!("axis {axis} of {xs:?}"),
        })?;
        let ks = self.shape(idx).len();
        let oh = self.one_hot(idx, n)?;
        let mut perm = vec![axis];
        perm.extend((0..xs.len()).filter(|&a| a != axis));
        let xt = self.transpose(x, &perm)?;
        // [idx.., pre.., post..] -> [pre.., idx.., post..]
        let y = self.tensordot(oh, xt, 1)?;
        let mut back: Vec<usize> = (ks..ks + axis).collect();
        back.extend(0..ks);
        back.extend(ks + axis..ks + xs.len() - 1);
        self.transpose(y, &back)
    }

    /// `gather(x, idx, axis)`: `result[i] = x[i, idx[i]]` along `axis`, with `idx`
    /// shaped like `x` without the axis: `sum(x * one_hot(idx), axis)`.
    pub fn gather(&mut self, x: NodeId, idx: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        let xs = self.shape(x).to_vec();
        let n = *xs.get(axis).ok_or_else(|| GraphError::InvalidArgument {
            op: "gather",
            message: format!("axis {axis} of {xs:?}"),
        })?;
        let r = xs.len();
        let oh = self.one_hot(idx, n)?;
        // the class axis (last) moves to `axis`
        let mut perm: Vec<usize> = (0..axis).collect();
        perm.push(r - 1);
        perm.extend(axis..r - 1);
        let oh = self.transpose(oh, &perm)?;
        let picked = self.mul(x, oh)?;
        self.sum(picked, &[axis], false)
    }

    /// `where(c, a, b)` with `c` a 0/1 float mask; broadcasting.
    pub fn select(&mut self, c: NodeId, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::Select, vec![c, a, b])
    }

    /// An int tensor as floats.
    pub fn int_to_float(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::IntToFloat, vec![x])
    }

    /// A strided window `(start, len, step)` per axis.
    pub fn slice(
        &mut self,
        x: NodeId,
        ranges: Vec<(usize, usize, usize)>,
    ) -> Result<NodeId, GraphError> {
        self.push(Op::Slice { ranges }, vec![x])
    }

    /// Zeros of `shape` with `x` written into the window (the adjoint of `slice`).
    pub fn unslice(
        &mut self,
        x: NodeId,
        ranges: Vec<(usize, usize, usize)>,
        shape: Shape,
    ) -> Result<NodeId, GraphError> {
        self.push(Op::Unslice { ranges, shape }, vec![x])
    }

    pub fn stop_gradient(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.push(Op::StopGradient, vec![x])
    }

    /// Int labels `[..]` to a float one-hot tensor `[.., classes]`.
    pub fn one_hot(&mut self, labels: NodeId, classes: usize) -> Result<NodeId, GraphError> {
        self.push(Op::OneHot { classes }, vec![labels])
    }

    // ----- reductions -----

    fn reduce(
        &mut self,
        kind: ReduceOp,
        x: NodeId,
        axes: &[usize],
        keepdims: bool,
    ) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        if axes.is_empty() && self.dtype(x) == DType::Float {
            return Ok(x);
        }
        self.push(
            Op::Reduce {
                kind,
                axes: axes.to_vec(),
                keepdims,
            },
            vec![x],
        )
    }

    /// Sum over `axes` (sorted, unique, non-negative; empty = identity).
    pub fn sum(&mut self, x: NodeId, axes: &[usize], keepdims: bool) -> Result<NodeId, GraphError> {
        self.reduce(ReduceOp::Sum, x, axes, keepdims)
    }

    /// Sum over every axis, to a scalar.
    pub fn sum_all(&mut self, x: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(x)?;
        let axes: Vec<usize> = (0..self.shape(x).len()).collect();
        self.sum(x, &axes, false)
    }

    pub fn mean(
        &mut self,
        x: NodeId,
        axes: &[usize],
        keepdims: bool,
    ) -> Result<NodeId, GraphError> {
        let s = self.sum(x, axes, keepdims)?;
        if axes.is_empty() {
            return Ok(s);
        }
        let shape = self.shape(x);
        let count: usize = axes
            .iter()
            .map(|&a| shape.get(a).copied().unwrap_or(1))
            .product();
        self.scale(s, 1.0 / count as f64)
    }

    /// Max over `axes`; the derivative is split evenly among tied maxima.
    pub fn max(&mut self, x: NodeId, axes: &[usize], keepdims: bool) -> Result<NodeId, GraphError> {
        self.reduce(ReduceOp::Max, x, axes, keepdims)
    }

    /// Min over `axes`; the derivative is split evenly among tied minima.
    pub fn min(&mut self, x: NodeId, axes: &[usize], keepdims: bool) -> Result<NodeId, GraphError> {
        self.reduce(ReduceOp::Min, x, axes, keepdims)
    }

    fn check_axis(&self, op: &'static str, x: NodeId, axis: usize) -> Result<(), GraphError> {
        self.check_id(x)?;
        let rank = self.shape(x).len();
        if axis >= rank {
            return Err(GraphError::InvalidArgument {
                op,
                message: format!("axis {axis} out of range for shape {:?}", self.shape(x)),
            });
        }
        Ok(())
    }

    /// `x - stop_gradient(max(x, axis, keepdims))` and that max.
    fn shifted(&mut self, x: NodeId, axis: usize) -> Result<(NodeId, NodeId), GraphError> {
        let m = self.max(x, &[axis], true)?;
        let m = self.stop_gradient(m)?;
        Ok((self.sub(x, m)?, m))
    }

    /// Numerically stable softmax along `axis`.
    pub fn softmax(&mut self, x: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        self.check_axis("softmax", x, axis)?;
        let (z, _) = self.shifted(x, axis)?;
        let e = self.exp(z)?;
        let s = self.sum(e, &[axis], true)?;
        self.div(e, s)
    }

    /// Numerically stable log-softmax along `axis`.
    pub fn log_softmax(&mut self, x: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        self.check_axis("log_softmax", x, axis)?;
        let (z, _) = self.shifted(x, axis)?;
        let e = self.exp(z)?;
        let s = self.sum(e, &[axis], true)?;
        let l = self.log(s)?;
        self.sub(z, l)
    }

    /// Numerically stable `log(sum(exp(x), axis))`.
    pub fn logsumexp(
        &mut self,
        x: NodeId,
        axis: usize,
        keepdims: bool,
    ) -> Result<NodeId, GraphError> {
        self.check_axis("logsumexp", x, axis)?;
        let (z, m) = self.shifted(x, axis)?;
        let e = self.exp(z)?;
        let s = self.sum(e, &[axis], true)?;
        let l = self.log(s)?;
        let r = self.add(l, m)?;
        if keepdims {
            Ok(r)
        } else {
            let shape = super::op::reduced_shape(self.shape(x), &[axis], false);
            self.reshape(r, shape)
        }
    }

    /// Mean negative log-likelihood of int `labels` `[N]` under `logits` `[N, C]`.
    pub fn cross_entropy(&mut self, logits: NodeId, labels: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(logits)?;
        self.check_id(labels)?;
        let (sl, st) = (self.shape(logits).to_vec(), self.shape(labels).to_vec());
        if sl.len() != 2 || st.len() != 1 || sl[0] != st[0] {
            return Err(GraphError::ShapeMismatch {
                op: "cross_entropy",
                message: format!("logits must be [N, C] and labels [N], got {sl:?} and {st:?}"),
            });
        }
        if self.dtype(labels) != DType::Int || self.dtype(logits) != DType::Float {
            return Err(GraphError::DTypeMismatch {
                op: "cross_entropy",
                message: "logits must be float and labels int".into(),
            });
        }
        let oh = self.one_hot(labels, sl[1])?;
        let ls = self.log_softmax(logits, 1)?;
        let p = self.mul(oh, ls)?;
        let s = self.sum(p, &[0, 1], false)?;
        self.scale(s, -1.0 / sl[0] as f64)
    }

    /// Mean of squared differences of two tensors of the same shape.
    pub fn mse(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(a)?;
        self.check_id(b)?;
        if self.shape(a) != self.shape(b) {
            return Err(GraphError::ShapeMismatch {
                op: "mse",
                message: format!(
                    "operands must have the same shape, got {:?} and {:?}",
                    self.shape(a),
                    self.shape(b)
                ),
            });
        }
        let d = self.sub(a, b)?;
        let d2 = self.mul(d, d)?;
        let axes: Vec<usize> = (0..self.shape(d2).len()).collect();
        self.mean(d2, &axes, false)
    }

    /// Whether `from` broadcasts to `to` (NumPy rules).
    pub fn broadcastable(from: &[usize], to: &[usize]) -> bool {
        broadcasts_to(from, to)
    }
}
