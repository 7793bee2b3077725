//! Tensor types: an element kind and a symbolic shape.

use super::dims::{Dims, Poly};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    Float,
    /// Label tensors: never differentiable, only for `cross_entropy`/`one_hot`.
    Int,
    /// Masks: the result of comparisons, the condition of `where`; never
    /// differentiable.
    Bool,
}

pub type Shape = Vec<Poly>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorTy {
    pub shape: Shape,
    pub elem: Elem,
}

impl TensorTy {
    pub fn float(shape: Shape) -> Self {
        TensorTy {
            shape,
            elem: Elem::Float,
        }
    }

    pub fn scalar() -> Self {
        Self::float(Vec::new())
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn is_scalar(&self) -> bool {
        self.shape.is_empty()
    }

    /// `[N, D]`, or `[N] int` for label tensors.
    pub fn display(&self, dims: &Dims) -> String {
        let shape = shape_display(&self.shape, dims);
        match self.elem {
            Elem::Float => shape,
            Elem::Int => format!("{shape} int"),
            Elem::Bool => format!("{shape} bool"),
        }
    }
}

pub fn shape_display(shape: &[Poly], dims: &Dims) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.display(dims)).collect();
    format!("[{}]", parts.join(", "))
}

/// Where two shapes fail to broadcast: the axis of each operand (counted from
/// the left of that operand).
pub struct BroadcastClash {
    pub lhs_axis: usize,
    pub rhs_axis: usize,
}

/// NumPy broadcasting: align at the right; equal dimensions or a literal 1.
pub fn broadcast(a: &[Poly], b: &[Poly]) -> Result<Shape, BroadcastClash> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|k| &a[k]);
        let db = (i + b.len()).checked_sub(rank).map(|k| &b[k]);
        let d = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if x.is_one() => y.clone(),
            (Some(x), Some(y)) if y.is_one() => x.clone(),
            (Some(_), Some(_)) => {
                return Err(BroadcastClash {
                    lhs_axis: i + a.len() - rank,
                    rhs_axis: i + b.len() - rank,
                })
            }
            // Cannot happen (i < rank means one side has the axis); 1 is neutral.
            (None, None) => Poly::constant(1),
        };
        out.push(d);
    }
    Ok(out)
}
