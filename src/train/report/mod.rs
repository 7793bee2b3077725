//! The reporting layer of `gradlang train` and `gradlang eval` (SPEC section
//! 11): what a run tells a person (progress on stderr), a program (JSON on
//! stdout) and a file (`--log`, `--plot`). The training loop builds one
//! [`EpochRecord`] per epoch and hands it to each output; none of them
//! computes anything about training.
//!
//! - `record`: [`EpochRecord`] and its JSON form (the `--format json` object
//!   and the JSON lines of the log).
//! - `progress`: [`Progress`], the bar or the epoch lines on stderr.
//! - `log`: [`Log`], `--log FILE.jsonl|FILE.csv`.
//! - `plot`: [`write_plot`], `--plot FILE.svg`.
//! - `eval`: what `gradlang eval` prints.
//! - `human`: four significant digits, durations and rates for people.
//!
//! Files are opened and checked up front ([`Log::open`], [`check_plot_path`]):
//! a wrong extension or a CSV with other columns is refused before training
//! spends any time.

mod error;
mod eval;
mod human;
mod log;
mod plot;
mod progress;
mod record;

pub use error::{ReportError, ReportErrorKind};
pub use eval::{eval_human, eval_json};
pub use log::Log;
pub use plot::{check_plot_path, write_plot};
pub use progress::{Progress, ProgressMode};
pub use record::EpochRecord;
