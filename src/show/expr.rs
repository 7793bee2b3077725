//! The printer's expression IR: hash-consed nodes (common subexpressions are one
//! node), built through smart constructors that simplify as they build: constants
//! folded, `x * 1`, `x + 0`, `--x` and double transposes removed, broadcasts made
//! implicit where NumPy broadcasting already does them, an unbroadcast
//! (`sum(.., keepdims=true)` then a reshape) written as one `sum(.., axis=..)`,
//! `exp(z) / sum(exp(z))` recognized as `softmax`.

use crate::graph::Shape;
use std::collections::HashMap;

pub type Id = usize;

/// One IR operation. Every primitive of the graph maps to one of these (or to a
/// composition of them) in `backward.rs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum K {
    /// A name of the program (or a step printed earlier).
    Var(String),
    /// A scalar number (bits of the f64).
    Num(u64),
    /// A constant tensor of the node's shape: `zeros`, `ones` or `c * ones`.
    Full(u64),
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    MatMul {
        ta: bool,
        tb: bool,
    },
    Transpose(Vec<usize>),
    Reshape,
    /// Printed as `x + zeros([shape])` when it cannot be left implicit.
    BroadcastTo,
    /// `sum`, `max`, `min` over sorted axes.
    Reduce {
        func: &'static str,
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// A one-argument builtin (`exp`, `relu`, `sign`, ...).
    Func(&'static str),
    /// A two-argument elementwise builtin (`maximum`, `minimum`).
    Func2(&'static str),
    OneHot,
    Softmax(usize),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub k: K,
    pub args: Vec<Id>,
    pub shape: Shape,
}

#[derive(Default)]
pub struct Ir {
    pub nodes: Vec<Node>,
    intern: HashMap<(K, Vec<Id>, Shape), Id>,
}

fn broadcast(a: &[usize], b: &[usize]) -> Option<Shape> {
    crate::graph::broadcast_shapes(a, b)
}

impl Ir {
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub fn shape(&self, id: Id) -> &[usize] {
        &self.nodes[id].shape
    }

    /// Interns a node as is (no simplification).
    pub fn raw(&mut self, k: K, args: Vec<Id>, shape: Shape) -> Id {
        let key = (k, args, shape);
        if let Some(&id) = self.intern.get(&key) {
            return id;
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            k: key.0.clone(),
            args: key.1.clone(),
            shape: key.2.clone(),
        });
        self.intern.insert(key, id);
        id
    }

    pub fn var(&mut self, name: &str, shape: Shape) -> Id {
        self.raw(K::Var(name.to_string()), vec![], shape)
    }

    pub fn num(&mut self, v: f64) -> Id {
        let v = if v == 0.0 { 0.0 } else { v };
        self.raw(K::Num(v.to_bits()), vec![], vec![])
    }

    pub fn full(&mut self, v: f64, shape: Shape) -> Id {
        if shape.is_empty() {
            return self.num(v);
        }
        let v = if v == 0.0 { 0.0 } else { v };
        self.raw(K::Full(v.to_bits()), vec![], shape)
    }

    /// The value of a constant node (scalar or filled tensor).
    pub fn constant(&self, id: Id) -> Option<f64> {
        match self.nodes[id].k {
            K::Num(b) | K::Full(b) => Some(f64::from_bits(b)),
            _ => None,
        }
    }

    fn is(&self, id: Id, v: f64) -> bool {
        self.constant(id) == Some(v)
    }

    /// An operand of an elementwise op with its broadcast made implicit: a
    /// `BroadcastTo`, or a reshape that only adds or drops axes of size 1, is
    /// skipped while the op's result keeps its shape.
    fn implicit(&self, mut x: Id, other: &[usize], out: &[usize]) -> Id {
        loop {
            let n = &self.nodes[x];
            let inner = match n.k {
                K::BroadcastTo => n.args[0],
                K::Reshape => {
                    let a = n.args[0];
                    let strip =
                        |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
                    if strip(self.shape(a)) != strip(&n.shape) {
                        return x;
                    }
                    a
                }
                K::Full(b) => {
                    // a filled constant is its scalar, broadcast
                    if broadcast(&[], other).as_deref() == Some(out) {
                        return self
                            .intern
                            .get(&(K::Num(b), vec![], vec![]))
                            .copied()
                            .unwrap_or(x);
                    }
                    return x;
                }
                _ => return x,
            };
            if broadcast(self.shape(inner), other).as_deref() != Some(out) {
                return x;
            }
            x = inner;
        }
    }

    /// A two-operand elementwise op of result shape `out`, simplified.
    pub fn bin(&mut self, k: K, a: Id, b: Id, out: Shape) -> Id {
        // make the scalar of a filled constant available for `implicit`
        for &c in &[a, b] {
            if let K::Full(bits) = self.nodes[c].k {
                self.num(f64::from_bits(bits));
            }
        }
        let a = self.implicit(a, self.shape(b), &out);
        let b = self.implicit(b, self.shape(a), &out);
        let same = |ir: &Ir, x: Id| ir.shape(x) == out.as_slice();
        let (ca, cb) = (self.constant(a), self.constant(b));
        if let (Some(x), Some(y), true) = (ca, cb, out.is_empty()) {
            let v = match k {
                K::Add => Some(x + y),
                K::Sub => Some(x - y),
                K::Mul => Some(x * y),
                K::Div => Some(x / y),
                K::Pow => Some(x.powf(y)),
                _ => None,
            };
            if let Some(v) = v {
                return self.num(v);
            }
        }
        match k {
            K::Add => {
                if self.is(a, 0.0) && same(self, b) {
                    return b;
                }
                if self.is(b, 0.0) && same(self, a) {
                    return a;
                }
                if a == b {
                    let two = self.num(2.0);
                    return self.bin(K::Mul, two, a, out);
                }
                if self.nodes[b].k == K::Neg {
                    let c = self.nodes[b].args[0];
                    return self.bin(K::Sub, a, c, out);
                }
                if self.nodes[a].k == K::Neg {
                    let c = self.nodes[a].args[0];
                    return self.bin(K::Sub, b, c, out);
                }
            }
            K::Sub => {
                if self.is(b, 0.0) && same(self, a) {
                    return a;
                }
                if self.is(a, 0.0) && same(self, b) {
                    return self.neg(b);
                }
                if self.nodes[b].k == K::Neg {
                    let c = self.nodes[b].args[0];
                    return self.bin(K::Add, a, c, out);
                }
            }
            K::Mul => {
                if self.is(a, 1.0) && same(self, b) {
                    return b;
                }
                if self.is(b, 1.0) && same(self, a) {
                    return a;
                }
                if self.is(a, -1.0) && same(self, b) {
                    return self.neg(b);
                }
                if self.is(b, -1.0) && same(self, a) {
                    return self.neg(a);
                }
                // constants first: `2 * y`
                if cb.is_some() && ca.is_none() {
                    return self.bin(K::Mul, b, a, out);
                }
                for (x, y) in [(a, b), (b, a)] {
                    if self.nodes[x].k == K::Neg {
                        let inner = self.nodes[x].args[0];
                        let m = self.bin(K::Mul, inner, y, out.clone());
                        return self.neg(m);
                    }
                }
                if let Some(c) = ca {
                    if c < 0.0 {
                        let p = self.num(-c);
                        let m = self.bin(K::Mul, p, b, out);
                        return self.neg(m);
                    }
                    // `x * 0.125` reads as `x / 8`
                    let r = 1.0 / c;
                    if c != 1.0 && r.fract() == 0.0 && r.abs() < 1e15 && self.shape(a).is_empty() {
                        let d = self.num(r);
                        return self.bin(K::Div, b, d, out);
                    }
                }
                // (q / s) * e with e / s a softmax: q * softmax(..)
                for (x, y) in [(a, b), (b, a)] {
                    if self.nodes[x].k == K::Div {
                        let (q, s) = (self.nodes[x].args[0], self.nodes[x].args[1]);
                        if let Some(sm) = self.softmax_of(y, s) {
                            return self.bin(K::Mul, q, sm, out);
                        }
                    }
                }
            }
            K::Pow if self.is(b, 1.0) && same(self, a) => return a,
            K::Div => {
                if self.is(b, 1.0) && same(self, a) {
                    return a;
                }
                if self.nodes[a].k == K::Neg {
                    let inner = self.nodes[a].args[0];
                    let d = self.bin(K::Div, inner, b, out);
                    return self.neg(d);
                }
                if let Some(sm) = self.softmax_of(a, b) {
                    return sm;
                }
            }
            _ => {}
        }
        self.raw(k, vec![a, b], out)
    }

    /// `e / s` where `e = exp(x - max(x, axis, keepdims))` and `s = sum(e, axis,
    /// keepdims)`: `softmax(x, axis)`.
    fn softmax_of(&mut self, e: Id, s: Id) -> Option<Id> {
        let sn = self.nodes[s].clone();
        let K::Reduce {
            func: "sum",
            axes,
            keepdims: true,
        } = &sn.k
        else {
            return None;
        };
        if axes.len() != 1 || sn.args[0] != e {
            return None;
        }
        let en = &self.nodes[e];
        if en.k != K::Func("exp") {
            return None;
        }
        let z = &self.nodes[en.args[0]];
        if z.k != K::Sub {
            return None;
        }
        let (x, m) = (z.args[0], z.args[1]);
        let mn = &self.nodes[m];
        let is_max = matches!(&mn.k, K::Reduce { func: "max", axes: a, keepdims: true } if a == axes)
            && mn.args[0] == x;
        if !is_max {
            return None;
        }
        let shape = self.shape(x).to_vec();
        Some(self.raw(K::Softmax(axes[0]), vec![x], shape))
    }

    pub fn neg(&mut self, x: Id) -> Id {
        if let Some(c) = self.constant(x) {
            let shape = self.shape(x).to_vec();
            return self.full(-c, shape);
        }
        if self.nodes[x].k == K::Neg {
            return self.nodes[x].args[0];
        }
        let shape = self.shape(x).to_vec();
        self.raw(K::Neg, vec![x], shape)
    }

    pub fn func(&mut self, f: &'static str, x: Id) -> Id {
        let shape = self.shape(x).to_vec();
        self.raw(K::Func(f), vec![x], shape)
    }

    pub fn transpose(&mut self, x: Id, perm: &[usize]) -> Id {
        let n = self.nodes[x].clone();
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return x;
        }
        if let K::Transpose(inner) = &n.k {
            let composed: Vec<usize> = perm.iter().map(|&p| inner[p]).collect();
            return self.transpose(n.args[0], &composed);
        }
        let shape = perm.iter().map(|&p| n.shape[p]).collect();
        self.raw(K::Transpose(perm.to_vec()), vec![x], shape)
    }

    pub fn reshape(&mut self, x: Id, shape: Shape) -> Id {
        if self.shape(x) == shape.as_slice() {
            return x;
        }
        let n = self.nodes[x].clone();
        match &n.k {
            K::Reshape => return self.reshape(n.args[0], shape),
            // `[k] @ [k, m]` and `[n, k] @ [k]`, lowered with an axis of 1 added and dropped
            K::MatMul { ta: false, tb } if n.shape.len() == 2 => {
                let (a, b) = (n.args[0], n.args[1]);
                let vec_of = |ir: &Ir, v: Id, want: &[usize]| -> Option<Id> {
                    let vn = &ir.nodes[v];
                    (vn.k == K::Reshape && vn.shape == want && ir.shape(vn.args[0]).len() == 1)
                        .then(|| vn.args[0])
                };
                let sa = self.shape(a).to_vec();
                let sb = self.shape(b).to_vec();
                if sa.len() == 2 && sa[0] == 1 && shape == [n.shape[1]] && sb.len() == 2 {
                    if let Some(v) = vec_of(self, a, &sa) {
                        return self.raw(K::MatMul { ta: false, tb: *tb }, vec![v, b], shape);
                    }
                }
                if !*tb && sb.len() == 2 && sb[1] == 1 && shape == [n.shape[0]] && sa.len() == 2 {
                    if let Some(v) = vec_of(self, b, &sb) {
                        return self.raw(
                            K::MatMul {
                                ta: false,
                                tb: false,
                            },
                            vec![a, v],
                            shape,
                        );
                    }
                }
            }
            K::Reduce {
                func,
                axes,
                keepdims: true,
            } => {
                let src = self.shape(n.args[0]).to_vec();
                if crate::graph::reduced_shape(&src, axes, false) == shape {
                    return self.raw(
                        K::Reduce {
                            func,
                            axes: axes.clone(),
                            keepdims: false,
                        },
                        n.args.clone(),
                        shape,
                    );
                }
            }
            _ => {}
        }
        if let Some(c) = self.constant(x) {
            return self.full(c, shape);
        }
        self.raw(K::Reshape, vec![x], shape)
    }

    pub fn broadcast_to(&mut self, x: Id, shape: Shape) -> Id {
        if self.shape(x) == shape.as_slice() {
            return x;
        }
        if let Some(c) = self.constant(x) {
            return self.full(c, shape);
        }
        self.raw(K::BroadcastTo, vec![x], shape)
    }

    pub fn reduce(&mut self, func: &'static str, x: Id, axes: &[usize], keepdims: bool) -> Id {
        if axes.is_empty() {
            return x;
        }
        let shape = crate::graph::reduced_shape(self.shape(x), axes, keepdims);
        self.raw(
            K::Reduce {
                func,
                axes: axes.to_vec(),
                keepdims,
            },
            vec![x],
            shape,
        )
    }

    pub fn matmul(&mut self, a: Id, b: Id, ta: bool, tb: bool, shape: Shape) -> Id {
        let fold = |ir: &Ir, x: Id, t: bool| -> (Id, bool) {
            let n = &ir.nodes[x];
            if let K::Transpose(p) = &n.k {
                let r = p.len();
                if r >= 2
                    && p[..r - 2].iter().enumerate().all(|(i, &q)| i == q)
                    && p[r - 2] == r - 1
                    && p[r - 1] == r - 2
                {
                    return (n.args[0], !t);
                }
            }
            (x, t)
        };
        let (a, ta) = fold(self, a, ta);
        let (b, tb) = fold(self, b, tb);
        self.raw(K::MatMul { ta, tb }, vec![a, b], shape)
    }
}
