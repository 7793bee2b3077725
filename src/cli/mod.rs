//! The command line (SPEC section 8). The only layer that touches files, the
//! terminal and the process exit status.

mod backward_cmd;
mod check_cmd;
mod eval_cmd;
mod fmt_cmd;
mod gradcheck_cmd;
mod graph_cmd;
mod inputs;
mod names;
mod out_dir;
mod params;
mod profile;
mod program;
mod run_cmd;
mod source;
pub(crate) mod terminal;
mod train_cmd;
mod train_setup;
mod values;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "gradlang",
    version,
    about = "Tensor programs and their derivatives, with shapes proven before anything runs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and type-check a program; exit 1 if it has errors.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run the language server (LSP over stdin/stdout) for editors.
    Lsp,
    /// Rewrite files in the canonical layout (comments kept); with --check,
    /// list the files that would change and exit 1 if any would.
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        check: bool,
    },
    /// Check, then evaluate a program and print every binding.
    Run {
        #[command(flatten)]
        program: ProgramArgs,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
        /// Names to print, comma-separated (default: every binding).
        #[arg(long, value_delimiter = ',', value_name = "NAME,NAME")]
        print: Option<Vec<String>>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also write each printed value to DIR/NAME.npy.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Evaluate N times after one warm-up (values are printed once); for timing.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        repeat: Option<u32>,
        /// Report on stderr the median time of each phase and a per-primitive table.
        #[arg(long)]
        profile: bool,
    },
    /// Print the program with every derivative replaced by the steps computing it.
    Backward {
        file: PathBuf,
        /// Only the derivatives of these bindings, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_name = "NAME,NAME")]
        of: Option<Vec<String>>,
        /// Bind a dimension: --dim N=64 (repeatable).
        #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_dim)]
        dims: Vec<(String, usize)>,
    },
    /// Draw the computation: -o OUT.svg (laid out here) or OUT.dot (for Graphviz).
    Graph {
        file: PathBuf,
        /// Only these bindings and what they need, comma-separated (default: all).
        #[arg(long, value_delimiter = ',', value_name = "NAME,NAME")]
        of: Option<Vec<String>>,
        /// Also draw the backward operations and the forward values they keep alive.
        #[arg(long)]
        backward: bool,
        /// The output file; its extension picks the format.
        #[arg(short = 'o', long = "output", value_name = "OUT.svg|OUT.dot")]
        output: PathBuf,
        /// Bind a dimension: --dim N=64 (repeatable).
        #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_dim)]
        dims: Vec<(String, usize)>,
    },
    /// Fit the program's params to data, as its `train` statement says.
    Train {
        #[command(flatten)]
        program: ProgramArgs,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
        /// Validation data (.npz or .safetensors), evaluated after each epoch.
        #[arg(long, value_name = "PATH")]
        val: Option<PathBuf>,
        /// Hold out this seeded random fraction of the examples for validation.
        #[arg(long, value_name = "FRACTION")]
        val_split: Option<f64>,
        /// Epochs (default: the train statement's, else 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        epochs: Option<u64>,
        /// Examples per step (default: the train statement's, else 32).
        #[arg(long, value_name = "B", value_parser = clap::value_parser!(u64).range(1..1 << 40))]
        batch_size: Option<u64>,
        /// Learning rate, instead of the optimizer's.
        #[arg(long, value_name = "X")]
        lr: Option<f64>,
        /// Visit the examples in file order every epoch.
        #[arg(long)]
        no_shuffle: bool,
        /// Drop each epoch's last, smaller batch.
        #[arg(long)]
        drop_last: bool,
        /// Start from saved params (.safetensors or .npz) instead of the initializers.
        #[arg(long, value_name = "PARAMS")]
        init: Option<PathBuf>,
        /// Write DIR/epoch-NNNN.safetensors and DIR/last.safetensors.
        #[arg(long, value_name = "DIR")]
        checkpoint_dir: Option<PathBuf>,
        /// Checkpoint every K epochs.
        #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        every: u64,
        /// Keep only the last K epoch checkpoints.
        #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
        keep: Option<u64>,
        /// Continue from a checkpoint (default: DIR/last.safetensors of --checkpoint-dir).
        #[arg(long, value_name = "CKPT", num_args = 0..=1)]
        resume: Option<Option<PathBuf>>,
        /// Stop when METRIC has not improved: METRIC[,patience=P][,min-delta=D].
        #[arg(long, value_name = "METRIC")]
        early_stop: Option<String>,
        /// Append one record per epoch (FILE.jsonl or FILE.csv).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Progress on stderr: a bar on a terminal, epoch lines otherwise.
        #[arg(long, value_enum, default_value_t = crate::train::report::ProgressMode::Auto)]
        progress: crate::train::report::ProgressMode,
        /// Draw the loss and metrics per epoch (FILE.svg).
        #[arg(long, value_name = "FILE.svg")]
        plot: Option<PathBuf>,
        /// Write DIR/params.safetensors and DIR/history.jsonl (default: runs/NAME).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Report on stderr where the training loop's time went, and steps/s.
        #[arg(long)]
        profile: bool,
    },
    /// The loss and every metric of trained params over a data set.
    Eval {
        #[command(flatten)]
        program: ProgramArgs,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
        /// Examples per evaluation batch (default: the train statement's, else 32).
        #[arg(long, value_name = "B", value_parser = clap::value_parser!(u64).range(1..1 << 40))]
        batch_size: Option<u64>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Compare every grad, vjp and jvp with central finite differences (f64).
    Gradcheck {
        #[command(flatten)]
        program: ProgramArgs,
        /// Random directions per grad or vjp.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
        directions: u16,
    },
}

/// What `run` and `gradcheck` share: the program and its values.
#[derive(clap::Args, Debug)]
pub struct ProgramArgs {
    pub file: PathBuf,
    /// Bind a dimension: --dim N=64 (repeatable).
    #[arg(long = "dim", value_name = "NAME=VALUE", value_parser = parse_dim)]
    pub dims: Vec<(String, usize)>,
    /// Value of an input or param from a .npy file: --input x=x.npy (repeatable).
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = parse_input)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Values of inputs and params from a .npz or .safetensors file, by array name.
    #[arg(long = "inputs", value_name = "PATH.npz|PATH.safetensors")]
    pub archive: Option<PathBuf>,
    /// Values of every param, by full name (fc1.W), from a .safetensors or .npz file (a checkpoint).
    #[arg(long = "params", value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Seed of the random initializers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores; at most 1024). Results are identical for every count.
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<u16>,
    /// Refuse a jacobian or hessian larger than this (bytes).
    #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
    pub max_jacobian_bytes: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    F32,
    F64,
}

/// `N=64`: a declared dimension name and a positive integer.
fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a dimension name"));
    }
    match value.trim().parse::<u64>() {
        Ok(v) if v >= 1 => usize::try_from(v)
            .map(|v| (name.to_string(), v))
            .map_err(|_| format!("{v} is too large")),
        _ => Err(format!(
            "the value of {name} must be a positive integer, got `{value}`"
        )),
    }
}

/// The most worker threads `--threads` accepts: far more than any machine's
/// cores, few enough that starting them takes no noticeable time.
pub const MAX_THREADS: u16 = 1024;

fn parse_threads(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u64>() {
        Ok(k) if (1..=u64::from(MAX_THREADS)).contains(&k) => Ok(k as u16),
        Ok(0) => Err("the thread count must be at least 1".to_string()),
        Ok(k) => Err(format!(
            "{k} threads is more than the maximum of {MAX_THREADS}; \
             the default uses every core"
        )),
        Err(_) => Err(format!("`{s}` is not a thread count (1 to {MAX_THREADS})")),
    }
}

/// `x=path/to/x.npy`.
fn parse_input(s: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH, got `{s}`"))?;
    if name.is_empty() || path.is_empty() {
        return Err(format!("expected NAME=PATH, got `{s}`"));
    }
    Ok((name.to_string(), PathBuf::from(path)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Runs the command line; clap's misuse reports (and `--help`) are written
/// through [`terminal`], so a closed or full stdout/stderr never panics.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use std::io::IsTerminal;
            let styled = if e.use_stderr() {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            };
            let text = if styled && std::env::var_os("NO_COLOR").is_none() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            let status = ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            if e.use_stderr() {
                terminal::write_stderr(&text);
                return status;
            }
            return match terminal::write_stdout(&text) {
                Ok(()) => status,
                Err(code) => code,
            };
        }
    };
    match cli.command {
        Command::Check { file, format } => check_cmd::run(&file, format),
        Command::Lsp => with_big_stack(crate::lsp::run_stdio),
        Command::Fmt { files, check } => fmt_cmd::run(files, check),
        Command::Run {
            program,
            dtype,
            print,
            format,
            out,
            repeat,
            profile,
        } => run_cmd::run(run_cmd::RunArgs {
            program,
            precision: precision(dtype),
            print,
            format,
            out,
            repeat,
            profile,
        }),
        Command::Gradcheck {
            program,
            directions,
        } => gradcheck_cmd::run(program, directions.into()),
        Command::Train {
            program,
            dtype,
            val,
            val_split,
            epochs,
            batch_size,
            lr,
            no_shuffle,
            drop_last,
            init,
            checkpoint_dir,
            every,
            keep,
            resume,
            early_stop,
            log,
            progress,
            plot,
            out,
            format,
            profile,
        } => train_cmd::run(train_cmd::TrainArgs {
            program,
            precision: precision(dtype),
            val,
            val_split,
            epochs,
            batch_size,
            lr,
            no_shuffle,
            drop_last,
            init,
            checkpoint_dir,
            every,
            keep,
            resume,
            early_stop,
            log,
            progress,
            plot,
            out,
            format,
            profile,
        }),
        Command::Eval {
            program,
            dtype,
            batch_size,
            format,
        } => eval_cmd::run(eval_cmd::EvalArgs {
            program,
            precision: precision(dtype),
            batch_size,
            format,
        }),
        Command::Backward { file, of, dims } => backward_cmd::run(&file, of, &dims),
        Command::Graph {
            file,
            of,
            backward,
            output,
            dims,
        } => graph_cmd::run(&file, of, backward, &output, &dims),
    }
}

fn precision(d: DtypeArg) -> crate::run::Precision {
    match d {
        DtypeArg::F32 => crate::run::Precision::F32,
        DtypeArg::F64 => crate::run::Precision::F64,
    }
}

/// Renders diagnostics of one source file on stderr (human format).
pub(crate) fn report(diagnostics: &[crate::diagnostics::Diagnostic], file: &str, text: &str) {
    terminal::Reporter {
        format: Format::Human,
        file,
        text,
    }
    .render(diagnostics);
}

/// Runs `f` on a thread with a large stack: parsing and checking recurse over
/// the tree, and a generous stack keeps pathological inputs from overflowing.
pub(crate) fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    const STACK: usize = 256 << 20;
    match std::thread::Builder::new().stack_size(STACK).spawn(f) {
        Ok(handle) => match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(e) => {
            terminal::write_stderr(&format!("error: could not start a worker thread: {e}\n"));
            std::process::exit(2)
        }
    }
}
