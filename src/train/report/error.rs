//! The one error type of the reporting layer: which file, what went wrong, and
//! whether it was decided up front (so `gradlang train` can exit 2 for a
//! command-line problem and 1 for a failure while running).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Coarsely, what went wrong, so callers can pick an exit status without
/// parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportErrorKind {
    /// The file cannot serve this run, decided before training starts: its
    /// extension names no supported format, or an existing CSV log has other
    /// columns. A command-line problem: nothing has been written.
    Refused,
    /// The operating system refused a read or write, or a chart could not be
    /// drawn.
    Io,
}

/// An error opening or writing a log or chart file. `Display` renders
/// `PATH: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    kind: ReportErrorKind,
    path: PathBuf,
    message: String,
}

impl ReportError {
    pub fn new(kind: ReportErrorKind, path: &Path, message: impl Into<String>) -> Self {
        ReportError {
            kind,
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// An I/O error while doing `action` ("open the log", ...), described for a
    /// person rather than as the OS's `Debug` text.
    pub fn io(path: &Path, action: &str, err: &io::Error) -> Self {
        let what = match err.kind() {
            io::ErrorKind::NotFound => "no such file or directory".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::IsADirectory => "is a directory, not a file".to_string(),
            _ => err.to_string(),
        };
        ReportError::new(
            ReportErrorKind::Io,
            path,
            format!("cannot {action}: {what}"),
        )
    }

    pub fn kind(&self) -> ReportErrorKind {
        self.kind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The message without the path prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ReportError {}
