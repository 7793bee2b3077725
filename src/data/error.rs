//! The one error type of the data module.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, coarsely, so callers can branch without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataErrorKind {
    /// The operating system refused: not found, permission denied, is a directory, ...
    Io,
    /// The bytes are not a well-formed `.npy` / `.npz` file.
    Format,
    /// Well-formed, but uses a feature this reader does not support (dtype, version).
    Unsupported,
    /// The file declares more data than it holds or than is sane to load.
    TooLarge,
    /// Well-formed and within the limits, but memory for it could not be allocated.
    OutOfMemory,
}

/// An error reading or writing a data file.
///
/// Carries the path (when known), the `.npz` member (when inside an archive) and a
/// user-facing message. `Display` renders `PATH: message` or
/// `PATH (member 'NAME'): message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    kind: DataErrorKind,
    path: Option<PathBuf>,
    member: Option<String>,
    message: String,
}

impl DataError {
    /// A new error without a path (e.g. from [`crate::data::read_npy_bytes`]).
    pub fn new(kind: DataErrorKind, message: impl Into<String>) -> Self {
        DataError {
            kind,
            path: None,
            member: None,
            message: message.into(),
        }
    }

    /// An I/O error, described for a human, naming the path.
    pub fn io(path: &Path, action: &str, err: &io::Error) -> Self {
        let what = match err.kind() {
            io::ErrorKind::NotFound => "no such file or directory".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::IsADirectory => "is a directory, not a file".to_string(),
            _ => err.to_string(),
        };
        DataError::new(DataErrorKind::Io, format!("cannot {action}: {what}")).with_path(path)
    }

    /// Attach (or replace) the path this error is about.
    pub fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// Attach the `.npz` member this error is about.
    pub fn with_member(mut self, member: &str) -> Self {
        self.member = Some(member.to_string());
        self
    }

    pub fn kind(&self) -> DataErrorKind {
        self.kind
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }

    /// The message without the path prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, &self.member) {
            (Some(p), Some(m)) => write!(f, "{} (member '{}'): {}", p.display(), m, self.message),
            (Some(p), None) => write!(f, "{}: {}", p.display(), self.message),
            (None, Some(m)) => write!(f, "member '{}': {}", m, self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DataError {}
