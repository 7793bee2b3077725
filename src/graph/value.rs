//! Runtime values and the [`Float`] element trait (implemented for `f32` and `f64`).

use super::{DType, EvalError};
use ndarray::{ArrayD, IxDyn, LinalgScalar};
use std::fmt::{Debug, Display};

/// A tensor value: float (of the run's precision) or int (labels).
#[derive(Clone, Debug, PartialEq)]
pub enum Value<T> {
    Float(ArrayD<T>),
    Int(ArrayD<i64>),
}

impl<T: Float> Value<T> {
    /// A float value from row-major data; `None` if the length does not match.
    pub fn float(shape: &[usize], data: Vec<T>) -> Option<Self> {
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .ok()
            .map(Value::Float)
    }

    /// An int value from row-major data; `None` if the length does not match.
    pub fn int(shape: &[usize], data: Vec<i64>) -> Option<Self> {
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .ok()
            .map(Value::Int)
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Value::Float(a) => a.shape(),
            Value::Int(a) => a.shape(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Value::Float(_) => DType::Float,
            Value::Int(_) => DType::Int,
        }
    }

    pub fn as_float(&self) -> Option<&ArrayD<T>> {
        match self {
            Value::Float(a) => Some(a),
            Value::Int(_) => None,
        }
    }

    pub fn as_int(&self) -> Option<&ArrayD<i64>> {
        match self {
            Value::Int(a) => Some(a),
            Value::Float(_) => None,
        }
    }

    pub(crate) fn float_or_err(&self) -> Result<&ArrayD<T>, EvalError> {
        self.as_float()
            .ok_or_else(|| EvalError::Internal("expected a float value, found int".into()))
    }

    pub(crate) fn int_or_err(&self) -> Result<&ArrayD<i64>, EvalError> {
        self.as_int()
            .ok_or_else(|| EvalError::Internal("expected an int value, found float".into()))
    }

    /// The same value with a standard (row-major, contiguous) layout.
    pub(crate) fn into_standard(self) -> Self {
        match self {
            Value::Float(a) if !a.is_standard_layout() => {
                Value::Float(a.as_standard_layout().into_owned())
            }
            Value::Int(a) if !a.is_standard_layout() => {
                Value::Int(a.as_standard_layout().into_owned())
            }
            v => v,
        }
    }
}

/// Floating-point element type of an evaluation.
pub trait Float:
    LinalgScalar
    + Default
    + std::ops::Neg<Output = Self>
    + PartialOrd
    + Send
    + Sync
    + Debug
    + Display
    + 'static
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn abs(self) -> Self;
    fn powf(self, p: Self) -> Self;
    fn is_nan(self) -> bool;
    fn erf(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Half to even, as NumPy's `round`.
    fn round_even(self) -> Self;
    fn infinity() -> Self;
    fn neg_infinity() -> Self;
    /// `C = alpha A B + beta C` for an `m x k` matrix A and a `k x n` matrix B given
    /// by pointers and strides (in elements; a transpose is just swapped strides),
    /// one sequential call: of the `gemm` crate below [`GEMM_CRATE_MAX`]
    /// multiply-adds, of `matrixmultiply` above (their own threading is off). The
    /// choice depends on the sizes only, so results never depend on the thread count.
    ///
    /// # Safety
    /// The pointers and strides must describe valid matrices of those sizes; `c` must
    /// not alias `a` or `b`; with `beta == 0` and `k > 0`, C need not be initialized.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

/// GEMM calls of at least this many multiply-adds go to `matrixmultiply`, smaller
/// ones to the `gemm` crate (faster, but its packing buffers are allocated per call,
/// and on the linear layer's 4096-wide tiles malloc retains ~15 MiB of them).
pub(crate) const GEMM_CRATE_MAX: usize = 1 << 28;

macro_rules! impl_float {
    ($t:ty, $name:expr, $big:path, $erf:path) => {
        impl Float for $t {
            const NAME: &'static str = $name;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline]
            fn round_even(self) -> Self {
                <$t>::round_ties_even(self)
            }
            #[inline]
            fn infinity() -> Self {
                <$t>::INFINITY
            }
            #[inline]
            fn neg_infinity() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline]
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                if m.saturating_mul(n).saturating_mul(k) >= GEMM_CRATE_MAX {
                    return $big(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc);
                }
                gemm::gemm(
                    m,
                    n,
                    k,
                    c,
                    csc,
                    rsc,
                    beta != 0.0,
                    a,
                    csa,
                    rsa,
                    b,
                    csb,
                    rsb,
                    beta,
                    alpha,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        }
    };
}

impl_float!(f32, "f32", matrixmultiply::sgemm, libm::erff);
impl_float!(f64, "f64", matrixmultiply::dgemm, libm::erf);
