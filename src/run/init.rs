//! Initializers (`zeros`, `normal(0, sqrt(2 / I))`, literals) and the seeded
//! random streams behind them.
//!
//! A tensor's random values depend only on `--seed` and its full name
//! (`fc1.W`), never on declaration order or thread count: the values are made
//! in fixed chunks, each from its own stream keyed by (seed, name, chunk).

use crate::diagnostics::Span;
use crate::graph::Float;
use crate::syntax::ast::{BinOp, Expr, ExprKind};
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// No initializer: the value must come from the command line.
    None,
    /// Every element the same (`zeros`, `ones`, `1.5`).
    Fill(f64),
    Normal { mean: f64, std: f64 },
    Uniform { low: f64, high: f64 },
    /// Row-major values of a tensor literal.
    Literal(Vec<f64>),
}

impl Init {
    /// Evaluates an initializer expression; `dims` gives dimension values.
    pub fn from_expr(e: &Expr, dims: &dyn Fn(&str) -> Option<usize>) -> Result<Init, (Span, String)> {
        let e = e.strip_parens();
        match &e.kind {
            ExprKind::Name(n) if n == "zeros" => Ok(Init::Fill(0.0)),
            ExprKind::Name(n) if n == "ones" => Ok(Init::Fill(1.0)),
            ExprKind::List(_) => {
                let mut out = Vec::new();
                flatten(e, &mut out);
                Ok(Init::Literal(out))
            }
            ExprKind::Call { callee, args } if matches!(&callee.kind, ExprKind::Name(n) if n == "normal" || n == "uniform") => {
                let a = scalar(&args[0].value, dims)?;
                let b = match args.get(1) {
                    Some(arg) => scalar(&arg.value, dims)?,
                    None => 1.0,
                };
                Ok(match &callee.kind {
                    ExprKind::Name(n) if n == "normal" => Init::Normal { mean: a, std: b },
                    _ => Init::Uniform { low: a, high: b },
                })
            }
            _ => Ok(Init::Fill(scalar(e, dims)?)),
        }
    }

    /// The float values of a tensor of `numel` elements named `name`.
    pub fn floats<T: Float>(&self, name: &str, seed: u64, numel: usize) -> Vec<T> {
        match self {
            Init::None => Vec::new(),
            Init::Fill(v) => vec![T::from_f64(*v); numel],
            Init::Literal(values) => values.iter().map(|v| T::from_f64(*v)).collect(),
            Init::Normal { mean, std } => sample(name, seed, numel, |rng| mean + std * rng.normal()),
            Init::Uniform { low, high } => sample(name, seed, numel, |rng| low + (high - low) * rng.uniform()),
        }
    }

    /// The values of an int (label) tensor.
    pub fn ints(&self, numel: usize) -> Vec<i64> {
        match self {
            Init::Fill(v) => vec![*v as i64; numel],
            Init::Literal(values) => values.iter().map(|v| *v as i64).collect(),
            _ => Vec::new(),
        }
    }
}

fn flatten(e: &Expr, out: &mut Vec<f64>) {
    match &e.strip_parens().kind {
        ExprKind::List(items) => items.iter().for_each(|i| flatten(i, out)),
        ExprKind::Number(v) => out.push(*v),
        ExprKind::Neg(inner) => {
            let start = out.len();
            flatten(inner, out);
            out[start..].iter_mut().for_each(|v| *v = -*v);
        }
        _ => {}
    }
}

/// A scalar initializer argument: numbers, dimension values, `sqrt`, arithmetic.
fn scalar(e: &Expr, dims: &dyn Fn(&str) -> Option<usize>) -> Result<f64, (Span, String)> {
    match &e.kind {
        ExprKind::Number(v) => Ok(*v),
        ExprKind::Paren(inner) => scalar(inner, dims),
        ExprKind::Neg(inner) => Ok(-scalar(inner, dims)?),
        ExprKind::Name(n) => dims(n)
            .map(|v| v as f64)
            .ok_or_else(|| (e.span, format!("dimension `{n}` has no value"))),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (scalar(lhs, dims)?, scalar(rhs, dims)?);
            Ok(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Pow => a.powf(b),
                BinOp::MatMul => f64::NAN,
            })
        }
        ExprKind::Call { args, .. } if args.len() == 1 => Ok(scalar(&args[0].value, dims)?.sqrt()),
        _ => Err((e.span, "not a scalar constant".to_string())),
    }
}

/// Elements per independent random stream.
const CHUNK: usize = 1 << 16;

fn sample<T: Float>(name: &str, seed: u64, numel: usize, draw: impl Fn(&mut Rng) -> f64 + Sync) -> Vec<T> {
    let mut out = vec![T::from_f64(0.0); numel];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(chunk, values)| {
        let mut rng = Rng::new(stream_key(seed, name, chunk as u64));
        for v in values {
            *v = T::from_f64(draw(&mut rng));
        }
    });
    out
}

/// FNV-1a over (seed, name, chunk): a stable key for a stream.
fn stream_key(seed: u64, name: &str, chunk: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(name.as_bytes()).chain(&chunk.to_le_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64: small, fast and good enough for initial values.
pub struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    pub fn new(key: u64) -> Self {
        Rng { state: key, spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]: log is finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// A stream for other uses (such as gradcheck's random directions).
pub fn rng_for(seed: u64, name: &str) -> Rng {
    Rng::new(stream_key(seed, name, u64::MAX))
}
