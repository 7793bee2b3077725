//! Reading a source file with clear errors for the ways it can fail.

use crate::diagnostics::{Code, Diagnostic, Span};
use std::io::Read;
use std::path::Path;

/// The largest source file read: far beyond any program written by hand, small
/// enough that `check /dev/zero` ends at once.
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;

pub struct SourceFile {
    /// As given on the command line, for messages.
    pub name: String,
    pub text: String,
    /// A diagnostic for bytes that are not UTF-8 (the text is then lossy).
    pub encoding_error: Option<Diagnostic>,
}

/// Reads `path`, or returns an E0614 diagnostic (without a place) for a
/// missing, unreadable, non-regular or too large file.
pub fn read_source(path: &Path) -> Result<SourceFile, Diagnostic> {
    let name = path.display().to_string();
    let fail = |why: String| {
        Diagnostic::error_nowhere(Code::E0614, format!("cannot read `{name}`: {why}"))
    };
    if path.is_dir() {
        return Err(fail("it is a directory, not a .grad file".to_string()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(io_reason(&e)))?;
    // Never "until end of file": a device such as /dev/zero has none.
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(fail(format!(
            "it is larger than {} MiB, the limit for a source file",
            MAX_SOURCE_BYTES >> 20
        ))
        .with_help(
            "gradlang reads programs; data belongs in .npy/.npz files (--input, --inputs)",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceFile {
            name,
            text,
            encoding_error: None,
        }),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            // Offsets after the bad byte shift in the lossy text; point at the
            // replacement character, which starts at the same offset.
            let d = Diagnostic::error(
                Code::E0101,
                Span::new(at, at + 3.min(text.len() - at)),
                "the file is not valid UTF-8",
            )
            .with_primary_label(format!("invalid byte at offset {at}"))
            .with_help("gradlang source files are UTF-8 text");
            Ok(SourceFile {
                name,
                text,
                encoding_error: Some(d),
            })
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}
