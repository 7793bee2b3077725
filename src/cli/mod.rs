//! The command line (SPEC section 8). The only layer that touches files, the
//! terminal and the process exit status.

mod check_cmd;
mod source;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Runs the command line; clap reports misuse itself with exit status 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, format } => check_cmd::run(&file, format),
        Command::Lsp => with_big_stack(crate::lsp::run_stdio),
    }
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
        // Could not spawn (resource limits): run here instead.
        Err(_) => unreachable_spawn_fallback(),
    }
}

fn unreachable_spawn_fallback<T>() -> T {
    eprintln!("error: could not start a worker thread");
    std::process::exit(2)
}
