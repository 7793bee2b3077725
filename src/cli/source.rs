//! Reading a source file with clear errors for the ways it can fail.

use crate::diagnostics::{Code, Diagnostic, Span};
use std::path::Path;

pub struct SourceFile {
    /// As given on the command line, for messages.
    pub name: String,
    pub text: String,
    /// A diagnostic for bytes that are not UTF-8 (the text is then lossy).
    pub encoding_error: Option<Diagnostic>,
}

/// Reads `path`, or returns a one-line error for a missing, unreadable or
/// non-regular file.
pub fn read_source(path: &Path) -> Result<SourceFile, String> {
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(format!(
            "cannot read `{name}`: it is a directory, not a .grad file"
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{name}`: {}", io_reason(&e)))?;
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
