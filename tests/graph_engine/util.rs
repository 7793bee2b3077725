//! Test helpers: a seeded RNG, value constructors, evaluation shortcuts and the
//! finite-difference checker used for every primitive.

use gradlang::graph::*;
use ndarray::{ArrayD, IxDyn};
use std::collections::HashMap;

pub type Leaves = HashMap<NodeId, Value<f64>>;

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shape(&mut self, max_rank: usize, max_dim: usize) -> Vec<usize> {
        let r = self.below(max_rank + 1);
        (0..r).map(|_| 1 + self.below(max_dim)).collect()
    }
    pub fn array(&mut self, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| self.uniform(lo, hi)).collect();
        ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape")
    }
}

pub fn fval(a: ArrayD<f64>) -> Value<f64> {
    Value::Float(a)
}

pub fn arr(shape: &[usize], data: &[f64]) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).expect("shape")
}

pub fn eval(g: &Graph, leaves: &Leaves, outs: &[NodeId]) -> Vec<ArrayD<f64>> {
    evaluate(g, leaves, outs, &HashMap::new())
        .expect("evaluate")
        .into_iter()
        .map(|v| v.as_float().expect("float").clone())
        .collect()
}

pub fn eval1(g: &Graph, leaves: &Leaves, out: NodeId) -> ArrayD<f64> {
    eval(g, leaves, &[out]).remove(0)
}

pub fn dot(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

pub fn max_abs(a: &ArrayD<f64>) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Asserts `|a - b| <= atol + rtol * |b|` elementwise.
#[track_caller]
pub fn assert_close(a: &ArrayD<f64>, b: &ArrayD<f64>, rtol: f64, atol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!(
            (x - y).abs() <= atol + rtol * y.abs(),
            "{what}: element {i}: {x} vs {y} (diff {})",
            (x - y).abs()
        );
    }
}

/// One differentiable input of a checked function: shape and sampling range.
pub struct In {
    pub shape: Vec<usize>,
    pub lo: f64,
    pub hi: f64,
}

pub fn inp(shape: &[usize]) -> In {
    In {
        shape: shape.to_vec(),
        lo: -1.5,
        hi: 1.5,
    }
}

pub fn pos(shape: &[usize]) -> In {
    In {
        shape: shape.to_vec(),
        lo: 0.5,
        hi: 2.0,
    }
}

pub type Extra = Vec<(NodeId, Value<f64>)>;

const EPS: f64 = 1e-6;
const TOL: f64 = 2e-6;

/// Checks the VJP and the JVP of `build` with respect to every input against central
/// finite differences: `<vjp(v), d> == <v, fd(d)>` and `jvp(u) == fd(u)`.
#[track_caller]
pub fn check_fn(
    name: &str,
    seed: u64,
    ins: &[In],
    build: impl Fn(&mut Graph, &[NodeId], &mut Extra) -> Result<NodeId, GraphError>,
) {
    let mut rng = Rng::new(seed);
    let mut g = Graph::new();
    let xs: Vec<NodeId> = ins
        .iter()
        .enumerate()
        .map(|(i, s)| g.leaf(&format!("x{i}"), s.shape.clone(), DType::Float))
        .collect();
    let mut extra = Extra::new();
    let y = build(&mut g, &xs, &mut extra).unwrap_or_else(|e| panic!("{name}: build: {e}"));
    let ys = g.shape(y).to_vec();
    let v = g.leaf("v", ys.clone(), DType::Float);
    let mut leaves: Leaves = HashMap::new();
    for (x, s) in xs.iter().zip(ins) {
        leaves.insert(*x, fval(rng.array(&s.shape, s.lo, s.hi)));
    }
    leaves.insert(v, fval(rng.array(&ys, -1.0, 1.0)));
    for (n, val) in extra {
        leaves.insert(n, val);
    }
    for (i, x) in xs.iter().enumerate() {
        let r = g
            .vjp(y, *x, v)
            .unwrap_or_else(|e| panic!("{name}: vjp: {e}"));
        let u = g.leaf(&format!("u{i}"), ins[i].shape.clone(), DType::Float);
        let t = g
            .jvp(y, *x, u)
            .unwrap_or_else(|e| panic!("{name}: jvp: {e}"));
        assert_eq!(g.shape(r), g.shape(*x), "{name}: vjp shape");
        assert_eq!(g.shape(t), ys.as_slice(), "{name}: jvp shape");
        let d = rng.array(&ins[i].shape, -1.0, 1.0);
        leaves.insert(u, fval(d.clone()));
        let got = eval(&g, &leaves, &[r, t]);
        let x0 = leaves[x].as_float().expect("float").clone();
        let mut lp = leaves.clone();
        lp.insert(*x, fval(&x0 + &(&d * EPS)));
        let yp = eval1(&g, &lp, y);
        lp.insert(*x, fval(&x0 - &(&d * EPS)));
        let ym = eval1(&g, &lp, y);
        let fd = (&yp - &ym) / (2.0 * EPS);
        let scale = 1.0 + max_abs(&fd);
        // JVP, elementwise
        for (k, (a, b)) in got[1].iter().zip(fd.iter()).enumerate() {
            assert!(
                (a - b).abs() <= TOL * scale,
                "{name}: jvp wrt input {i}, element {k}: {a} vs finite difference {b}"
            );
        }
        // VJP, through the dot-product identity
        let vv = leaves[&v].as_float().expect("float");
        let lhs = dot(&got[0], &d);
        let rhs = dot(vv, &fd);
        let sc = 1.0 + lhs.abs().max(rhs.abs()) + max_abs(&got[0]);
        assert!(
            (lhs - rhs).abs() <= TOL * sc * (1 + d.len()) as f64,
            "{name}: vjp wrt input {i}: <vjp(v), d> = {lhs} vs <v, fd> = {rhs}"
        );
    }
}
