//! What a `train` statement resolves to, and the one table of optimizers and
//! schedules with their options and defaults (SPEC section 11). The checker
//! reads the table to validate a statement; the training loop reads the
//! resolved [`TrainSpec`]; `docs/training.md` is written from the same table.

use crate::check::dims::DimId;
use crate::check::typed::TensorId;
use crate::diagnostics::Span;

/// A resolved `train(L, over=N, ...)` statement.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The `loss` binding minimized.
    pub loss: TensorId,
    /// The example dimension: data inputs are sliced along it per minibatch.
    pub over: DimId,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Global-norm clipping threshold.
    pub clip_norm: Option<f64>,
    /// The trained params (top-level and instance params), in declaration order.
    pub params: Vec<TensorId>,
    /// The trained params that get weight decay, in declaration order.
    pub decay: Vec<TensorId>,
    /// The program's defaults for the run (`--epochs`, `--batch-size` override).
    pub epochs: Option<u64>,
    pub batch_size: Option<u64>,
    pub span: Span,
    /// The dimension after `over=`.
    pub over_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

/// An optimizer with every option resolved (defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD only.
    pub momentum: f64,
    pub nesterov: bool,
    /// Adam and AdamW only.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        match self.kind {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }

    /// The optimizer's state tensors per param (`m`, `v` for Adam; the
    /// momentum buffer `b` for SGD with momentum), in checkpoint order.
    pub fn state_names(&self) -> &'static [&'static str] {
        match self.kind {
            OptimizerKind::Sgd if self.momentum != 0.0 => &["b"],
            OptimizerKind::Sgd => &[],
            OptimizerKind::Adam | OptimizerKind::AdamW => &["m", "v"],
        }
    }

    /// The options as (name, value) pairs, for checkpoint metadata and messages.
    pub fn options(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![("lr", self.lr)];
        match self.kind {
            OptimizerKind::Sgd => {
                out.push(("momentum", self.momentum));
                out.push(("nesterov", f64::from(u8::from(self.nesterov))));
            }
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                out.push(("beta1", self.beta1));
                out.push(("beta2", self.beta2));
                out.push(("eps", self.eps));
            }
        }
        out.push(("weight_decay", self.weight_decay));
        out
    }
}

impl Default for Optimizer {
    /// `adam()` with PyTorch's defaults: what `train(L, over=N)` uses.
    fn default() -> Self {
        resolve_optimizer(OptimizerKind::Adam, &[]).expect("the defaults are valid")
    }
}

/// The factor a schedule multiplies `lr` by at step t (counted from 0) of T.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    Step { every: u64, gamma: f64 },
    Cosine { end: f64 },
    WarmupCosine { warmup: u64, end: f64 },
    Linear { end: f64 },
}

impl Schedule {
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step { .. } => "step",
            Schedule::Cosine { .. } => "cosine",
            Schedule::WarmupCosine { .. } => "warmup_cosine",
            Schedule::Linear { .. } => "linear",
        }
    }

    /// The factor at step `t` (from 0) of a run of `total` steps.
    pub fn factor(&self, t: u64, total: u64) -> f64 {
        let cosine = |t: f64, total: f64, end: f64| {
            let progress = if total > 0.0 {
                (t / total).min(1.0)
            } else {
                1.0
            };
            end + (1.0 - end) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
        };
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step { every, gamma } => gamma.powf((t / every.max(1)) as f64),
            Schedule::Cosine { end } => cosine(t as f64, total as f64, end),
            Schedule::WarmupCosine { warmup, end } => {
                if t < warmup {
                    t as f64 / warmup as f64
                } else {
                    cosine(
                        (t - warmup) as f64,
                        total.saturating_sub(warmup) as f64,
                        end,
                    )
                }
            }
            Schedule::Linear { end } => {
                let progress = if total > 0 {
                    (t as f64 / total as f64).min(1.0)
                } else {
                    1.0
                };
                1.0 - (1.0 - end) * progress
            }
        }
    }

    /// The options as (name, value) pairs, for checkpoint metadata.
    pub fn options(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Schedule::Constant => vec![],
            Schedule::Step { every, gamma } => vec![("every", every as f64), ("gamma", gamma)],
            Schedule::Cosine { end } | Schedule::Linear { end } => vec![("end", end)],
            Schedule::WarmupCosine { warmup, end } => {
                vec![("warmup", warmup as f64), ("end", end)]
            }
        }
    }
}

/// What values an option accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// A number > 0.
    Positive,
    /// A number >= 0.
    NonNegative,
    /// A number in [0, 1).
    Fraction,
    /// A number in [0, 1].
    UnitInterval,
    /// An integer >= 1.
    Count,
    /// `true` or `false`.
    Flag,
}

impl OptionKind {
    pub fn describe(self) -> &'static str {
        match self {
            OptionKind::Positive => "a number greater than 0",
            OptionKind::NonNegative => "a number at least 0",
            OptionKind::Fraction => "a number in [0, 1)",
            OptionKind::UnitInterval => "a number in [0, 1]",
            OptionKind::Count => "a whole number at least 1",
            OptionKind::Flag => "`true` or `false`",
        }
    }

    /// Whether `v` is acceptable (flags are 0 or 1).
    pub fn accepts(self, v: f64) -> bool {
        match self {
            OptionKind::Positive => v > 0.0 && v.is_finite(),
            OptionKind::NonNegative => v >= 0.0 && v.is_finite(),
            OptionKind::Fraction => (0.0..1.0).contains(&v),
            OptionKind::UnitInterval => (0.0..=1.0).contains(&v),
            OptionKind::Count => v >= 1.0 && v.fract() == 0.0 && v < 1e15,
            OptionKind::Flag => v == 0.0 || v == 1.0,
        }
    }
}

/// One option of an optimizer or schedule. `default: None` means required.
#[derive(Clone, Copy, Debug)]
pub struct OptionDef {
    pub name: &'static str,
    pub kind: OptionKind,
    pub default: Option<f64>,
}

const fn opt(name: &'static str, kind: OptionKind, default: f64) -> OptionDef {
    OptionDef {
        name,
        kind,
        default: Some(default),
    }
}

const fn required(name: &'static str, kind: OptionKind) -> OptionDef {
    OptionDef {
        name,
        kind,
        default: None,
    }
}

/// An optimizer or schedule: its name, options in positional order, and a
/// one-line description of its rule.
pub struct Recipe {
    pub name: &'static str,
    pub options: &'static [OptionDef],
    pub doc: &'static str,
}

use OptionKind::*;

/// The optimizers, with PyTorch's defaults.
pub const OPTIMIZERS: &[Recipe] = &[
    Recipe {
        name: "sgd",
        options: &[
            opt("lr", Positive, 0.01),
            opt("momentum", NonNegative, 0.0),
            opt("nesterov", Flag, 0.0),
            opt("weight_decay", NonNegative, 0.0),
        ],
        doc: "g += wd·θ; b = μ·b + g (b = g at the first step); g = g + μ·b (Nesterov) or g = b; θ -= lr·g",
    },
    Recipe {
        name: "adam",
        options: &[
            opt("lr", Positive, 0.001),
            opt("beta1", Fraction, 0.9),
            opt("beta2", Fraction, 0.999),
            opt("eps", Positive, 1e-8),
            opt("weight_decay", NonNegative, 0.0),
        ],
        doc: "g += wd·θ; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; θ -= lr·(m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + eps)",
    },
    Recipe {
        name: "adamw",
        options: &[
            opt("lr", Positive, 0.001),
            opt("beta1", Fraction, 0.9),
            opt("beta2", Fraction, 0.999),
            opt("eps", Positive, 1e-8),
            opt("weight_decay", NonNegative, 0.01),
        ],
        doc: "θ -= lr·wd·θ, then Adam's step without the g += wd·θ",
    },
];

/// The learning-rate schedules: factors of step t (from 0) of T steps.
pub const SCHEDULES: &[Recipe] = &[
    Recipe {
        name: "constant",
        options: &[],
        doc: "1",
    },
    Recipe {
        name: "step",
        options: &[required("every", Count), opt("gamma", Positive, 0.1)],
        doc: "gamma^floor(t/every)",
    },
    Recipe {
        name: "cosine",
        options: &[opt("end", UnitInterval, 0.0)],
        doc: "end + (1-end)(1+cos(π·t/T))/2",
    },
    Recipe {
        name: "warmup_cosine",
        options: &[required("warmup", Count), opt("end", UnitInterval, 0.0)],
        doc: "t/warmup for the first warmup steps, then the cosine over the remaining T − warmup",
    },
    Recipe {
        name: "linear",
        options: &[opt("end", UnitInterval, 0.0)],
        doc: "1 - (1-end)·t/T",
    },
];

/// The options of the `train` statement itself, after the loss.
pub const TRAIN_OPTIONS: &[(&str, &str)] = &[
    (
        "over",
        "the example dimension (data inputs are sliced along it)",
    ),
    ("optimizer", "sgd(..), adam(..) (default) or adamw(..)"),
    (
        "schedule",
        "constant() (default), step(..), cosine(..), warmup_cosine(..), linear(..)",
    ),
    ("clip_norm", "clip the global gradient norm to this value"),
    ("params", "the params to train (default: all)"),
    (
        "decay",
        "the params that get weight decay (default: all trained)",
    ),
    ("epochs", "default number of epochs (1)"),
    ("batch_size", "default batch size (32)"),
];

/// The tables of `train` options, optimizers and schedules as Markdown, for
/// `docs/training.md` (a test keeps the page equal to this).
pub fn markdown() -> String {
    let mut out = String::from("| option | meaning |\n|---|---|\n");
    for (name, doc) in TRAIN_OPTIONS {
        out.push_str(&format!("| `{name}=` | {doc} |\n"));
    }
    for (title, recipes) in [("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)] {
        out.push_str(&format!(
            "\n| {title} | options (defaults) | rule |\n|---|---|---|\n"
        ));
        for r in recipes {
            let options: Vec<String> = r
                .options
                .iter()
                .map(|o| match (o.default, o.kind) {
                    (None, _) => format!("`{}` (required)", o.name),
                    (Some(v), OptionKind::Flag) => format!("`{}={}`", o.name, v != 0.0),
                    (Some(v), _) if v != 0.0 && v.abs() < 1e-3 => format!("`{}={v:e}`", o.name),
                    (Some(v), _) => format!("`{}={v}`", o.name),
                })
                .collect();
            let options = if options.is_empty() {
                "none".to_string()
            } else {
                options.join(", ")
            };
            out.push_str(&format!("| `{}(..)` | {options} | {} |\n", r.name, r.doc));
        }
    }
    out
}

/// Looks up an option's value among `given` (by name), else its default.
fn value(given: &[(&'static str, f64)], name: &str, defs: &[OptionDef]) -> Option<f64> {
    given
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .or_else(|| defs.iter().find(|d| d.name == name).and_then(|d| d.default))
}

/// An optimizer from its validated options (`None` if a required one is missing).
pub fn resolve_optimizer(kind: OptimizerKind, given: &[(&'static str, f64)]) -> Option<Optimizer> {
    let defs = OPTIMIZERS[kind as usize].options;
    let get = |n: &str| value(given, n, defs);
    Some(Optimizer {
        kind,
        lr: get("lr")?,
        weight_decay: get("weight_decay")?,
        momentum: get("momentum").unwrap_or(0.0),
        nesterov: get("nesterov").unwrap_or(0.0) != 0.0,
        beta1: get("beta1").unwrap_or(0.9),
        beta2: get("beta2").unwrap_or(0.999),
        eps: get("eps").unwrap_or(1e-8),
    })
}

/// A schedule from its validated options (`None` if a required one is missing).
pub fn resolve_schedule(name: &str, given: &[(&'static str, f64)]) -> Option<Schedule> {
    let defs = SCHEDULES.iter().find(|r| r.name == name)?.options;
    let get = |n: &str| value(given, n, defs);
    Some(match name {
        "constant" => Schedule::Constant,
        "step" => Schedule::Step {
            every: get("every")? as u64,
            gamma: get("gamma")?,
        },
        "cosine" => Schedule::Cosine { end: get("end")? },
        "warmup_cosine" => Schedule::WarmupCosine {
            warmup: get("warmup")? as u64,
            end: get("end")?,
        },
        "linear" => Schedule::Linear { end: get("end")? },
        _ => return None,
    })
}

pub fn optimizer_kind(name: &str) -> Option<OptimizerKind> {
    match name {
        "sgd" => Some(OptimizerKind::Sgd),
        "adam" => Some(OptimizerKind::Adam),
        "adamw" => Some(OptimizerKind::AdamW),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_order_matches_the_kinds() {
        for (kind, name) in [
            (OptimizerKind::Sgd, "sgd"),
            (OptimizerKind::Adam, "adam"),
            (OptimizerKind::AdamW, "adamw"),
        ] {
            assert_eq!(OPTIMIZERS[kind as usize].name, name);
            assert_eq!(optimizer_kind(name), Some(kind));
        }
    }

    #[test]
    fn schedules_follow_their_formulas() {
        let t = 1000;
        assert_eq!(Schedule::Constant.factor(7, t), 1.0);
        let step = Schedule::Step {
            every: 30,
            gamma: 0.5,
        };
        assert_eq!(step.factor(29, t), 1.0);
        assert_eq!(step.factor(30, t), 0.5);
        assert_eq!(step.factor(61, t), 0.25);
        let cos = Schedule::Cosine { end: 0.1 };
        assert_eq!(cos.factor(0, t), 1.0);
        assert!((cos.factor(500, t) - (0.1 + 0.9 * 0.5)).abs() < 1e-15);
        assert!((cos.factor(1000, t) - 0.1).abs() < 1e-15);
        let warm = Schedule::WarmupCosine {
            warmup: 100,
            end: 0.0,
        };
        assert_eq!(warm.factor(0, t), 0.0);
        assert_eq!(warm.factor(50, t), 0.5);
        assert_eq!(warm.factor(100, t), 1.0);
        // Halfway through the 900 cosine steps.
        assert!((warm.factor(550, t) - 0.5).abs() < 1e-15);
        let lin = Schedule::Linear { end: 0.2 };
        assert_eq!(lin.factor(0, t), 1.0);
        assert!((lin.factor(500, t) - 0.6).abs() < 1e-15);
    }

    #[test]
    fn defaults_are_pytorchs() {
        let adamw = resolve_optimizer(OptimizerKind::AdamW, &[]).unwrap();
        assert_eq!(
            (
                adamw.lr,
                adamw.beta1,
                adamw.beta2,
                adamw.eps,
                adamw.weight_decay
            ),
            (1e-3, 0.9, 0.999, 1e-8, 0.01)
        );
        let sgd = resolve_optimizer(OptimizerKind::Sgd, &[("momentum", 0.9)]).unwrap();
        assert_eq!((sgd.lr, sgd.momentum, sgd.nesterov), (0.01, 0.9, false));
        assert_eq!(Optimizer::default().kind, OptimizerKind::Adam);
    }
}
