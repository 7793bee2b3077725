//! In-memory arrays as read from, or written to, data files.

use ndarray::{ArrayD, ArrayViewD};

/// An owned array read from a `.npy` file, in standard (row-major) layout.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    Bool(ArrayD<bool>),
}

/// A borrowed array to be written, printed or encoded as JSON.
#[derive(Debug, Clone)]
pub enum ArrayRef<'a> {
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    Bool(ArrayViewD<'a, bool>),
}

impl ArrayData {
    pub fn shape(&self) -> &[usize] {
        match self {
            ArrayData::F32(a) => a.shape(),
            ArrayData::F64(a) => a.shape(),
            ArrayData::I32(a) => a.shape(),
            ArrayData::I64(a) => a.shape(),
            ArrayData::Bool(a) => a.shape(),
        }
    }

    /// NumPy's name for the element type: `float32`, `float64`, `int32`, `int64`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            ArrayData::F32(_) => "float32",
            ArrayData::F64(_) => "float64",
            ArrayData::I32(_) => "int32",
            ArrayData::I64(_) => "int64",
            ArrayData::Bool(_) => "bool",
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(self, ArrayData::F32(_) | ArrayData::F64(_))
    }

    /// The values as f64 (exact for both float types); `None` for integer arrays.
    pub fn to_f64(&self) -> Option<ArrayD<f64>> {
        match self {
            ArrayData::F32(a) => Some(a.mapv(f64::from)),
            ArrayData::F64(a) => Some(a.clone()),
            ArrayData::I32(_) | ArrayData::I64(_) | ArrayData::Bool(_) => None,
        }
    }

    /// The values as f32 (f64 values are rounded to nearest); `None` for integer arrays.
    pub fn to_f32(&self) -> Option<ArrayD<f32>> {
        match self {
            ArrayData::F32(a) => Some(a.clone()),
            ArrayData::F64(a) => Some(a.mapv(|x| x as f32)),
            ArrayData::I32(_) | ArrayData::I64(_) | ArrayData::Bool(_) => None,
        }
    }

    /// The values as i64 (exact); `None` for float arrays.
    pub fn to_i64(&self) -> Option<ArrayD<i64>> {
        match self {
            ArrayData::I32(a) => Some(a.mapv(i64::from)),
            ArrayData::I64(a) => Some(a.clone()),
            ArrayData::F32(_) | ArrayData::F64(_) | ArrayData::Bool(_) => None,
        }
    }

    /// The values of a bool array; `None` for other arrays.
    pub fn to_bool(&self) -> Option<ArrayD<bool>> {
        match self {
            ArrayData::Bool(a) => Some(a.clone()),
            _ => None,
        }
    }

    /// Borrow as an [`ArrayRef`] for writing, printing or JSON.
    pub fn view(&self) -> ArrayRef<'_> {
        match self {
            ArrayData::F32(a) => ArrayRef::F32(a.view()),
            ArrayData::F64(a) => ArrayRef::F64(a.view()),
            ArrayData::I32(a) => ArrayRef::I32(a.view()),
            ArrayData::I64(a) => ArrayRef::I64(a.view()),
            ArrayData::Bool(a) => ArrayRef::Bool(a.view()),
        }
    }
}

impl<'a> ArrayRef<'a> {
    pub fn shape(&self) -> &[usize] {
        match self {
            ArrayRef::F32(a) => a.shape(),
            ArrayRef::F64(a) => a.shape(),
            ArrayRef::I32(a) => a.shape(),
            ArrayRef::I64(a) => a.shape(),
            ArrayRef::Bool(a) => a.shape(),
        }
    }
}

impl<'a> From<ArrayViewD<'a, f32>> for ArrayRef<'a> {
    fn from(v: ArrayViewD<'a, f32>) -> Self {
        ArrayRef::F32(v)
    }
}
impl<'a> From<ArrayViewD<'a, f64>> for ArrayRef<'a> {
    fn from(v: ArrayViewD<'a, f64>) -> Self {
        ArrayRef::F64(v)
    }
}
impl<'a> From<ArrayViewD<'a, i32>> for ArrayRef<'a> {
    fn from(v: ArrayViewD<'a, i32>) -> Self {
        ArrayRef::I32(v)
    }
}
impl<'a> From<ArrayViewD<'a, i64>> for ArrayRef<'a> {
    fn from(v: ArrayViewD<'a, i64>) -> Self {
        ArrayRef::I64(v)
    }
}
impl<'a> From<&'a ArrayData> for ArrayRef<'a> {
    fn from(a: &'a ArrayData) -> Self {
        a.view()
    }
}
impl<'a> From<ArrayViewD<'a, bool>> for ArrayRef<'a> {
    fn from(v: ArrayViewD<'a, bool>) -> Self {
        ArrayRef::Bool(v)
    }
}
