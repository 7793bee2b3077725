//! Initializers (`zeros`, `normal(0, sqrt(2 / I))`, literals) and the seeded
//! random streams behind them.
//!
//! A tensor's random values depend only on `--seed` and its full name
//! (`fc1.W`), never on declaration order or thread count: the values are made
//! in fixed chunks, each from its own stream keyed by (seed, name, chunk).

use crate::check::dims::DimId;
use crate::check::typed::InitExpr;
use crate::graph::Float;
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// No initializer: the value must come from the command line.
    None,
    /// Every element the same (`zeros`, `ones`, `1.5`).
    Fill(f64),
    Normal {
        mean: f64,
        std: f64,
    },
    Uniform {
        low: f64,
        high: f64,
    },
    /// Row-major values of a tensor literal.
    Literal(Vec<f64>),
}

impl Init {
    /// Evaluates a checked initializer; `dim` gives dimension values. `Err`
    /// names a dimension that has none.
    pub fn from_typed(
        init: Option<&InitExpr>,
        dim: &dyn Fn(DimId) -> Option<i64>,
    ) -> Result<Init, DimId> {
        Ok(match init {
            None => Init::None,
            Some(InitExpr::Fill(v)) => Init::Fill(v.eval(dim)?),
            Some(InitExpr::Normal(mean, std)) => Init::Normal {
                mean: mean.eval(dim)?,
                std: std.eval(dim)?,
            },
            Some(InitExpr::Uniform(low, high)) => Init::Uniform {
                low: low.eval(dim)?,
                high: high.eval(dim)?,
            },
            Some(InitExpr::Literal { values, .. }) => Init::Literal(values.clone()),
        })
    }

    /// The float values of a tensor of `numel` elements named `name`.
    pub fn floats<T: Float>(&self, name: &str, seed: u64, numel: usize) -> Vec<T> {
        match self {
            Init::None => Vec::new(),
            Init::Fill(v) => vec![T::from_f64(*v); numel],
            Init::Literal(values) => values.iter().map(|v| T::from_f64(*v)).collect(),
            Init::Normal { mean, std } => sample(name, seed, numel, |rng| {
                T::from_f64(mean + std * rng.normal())
            }),
            Init::Uniform { low, high } => sample(name, seed, numel, |rng| {
                T::from_f64(low + (high - low) * rng.uniform())
            }),
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

/// Elements per independent random stream.
const CHUNK: usize = 1 << 16;

/// `numel` values drawn by `draw` from streams keyed by (seed, name, chunk)
/// in fixed chunks: the same values for any thread count. Initializers and
/// training's dropout masks draw this way.
pub fn sample<T: Copy + Default + Send>(
    name: &str,
    seed: u64,
    numel: usize,
    draw: impl Fn(&mut Rng) -> T + Sync,
) -> Vec<T> {
    let mut out = vec![T::default(); numel];
    let fill = |(chunk, values): (usize, &mut [T])| {
        let mut rng = Rng::new(stream_key(seed, name, chunk as u64));
        for v in values {
            *v = draw(&mut rng);
        }
    };
    if numel > CHUNK {
        out.par_chunks_mut(CHUNK).enumerate().for_each(fill);
    } else {
        out.chunks_mut(CHUNK).enumerate().for_each(fill);
    }
    out
}

/// FNV-1a over (seed, name, chunk): a stable key for a stream.
fn stream_key(seed: u64, name: &str, chunk: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed
        .to_le_bytes()
        .iter()
        .chain(name.as_bytes())
        .chain(&chunk.to_le_bytes())
    {
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
        Rng {
            state: key,
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
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
