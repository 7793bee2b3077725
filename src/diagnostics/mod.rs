//! Diagnostics are data: one type (code, message, primary span, secondary labels,
//! help) feeds the human renderer (miette), `--format json` and the language server.
//!
//! Nothing here knows about parsing or checking; stages create [`Diagnostic`]s and
//! the CLI decides how to show them.

mod codes;
mod json;
mod render;
mod source_map;
pub mod units;

pub use codes::{Code, ALL_CODES};
pub use json::{diagnostics_to_json, span_to_json};
pub use render::render_human;
pub use source_map::{LineCol, SourceMap};

/// A half-open byte range `[start, end)` into the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, offset: usize) -> bool {
        self.start <= offset && offset < self.end.max(self.start + 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A secondary label: "this operand has shape [N, D]".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// Where the problem is in the source; `None` for a problem that has no
    /// place there (an unwritable output directory, a name on the command line).
    pub span: Option<Span>,
    /// Short text shown under the primary span (may be empty).
    pub primary_label: String,
    /// Other places that explain the problem.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// The fix the help names, when it is machine-applicable: replace the text
    /// at the span with the string (the language server's quick fix).
    pub suggestion: Option<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic at `span`; the severity follows from the code.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::placed(code, Some(span), message.into())
    }

    /// A diagnostic with no place in the source: no snippet in the human
    /// rendering, `"span": null` in JSON, the top of the file in the editor.
    pub fn error_nowhere(code: Code, message: impl Into<String>) -> Self {
        Self::placed(code, None, message.into())
    }

    /// At `span` when there is one, nowhere otherwise.
    pub fn error_at(code: Code, span: Option<Span>, message: impl Into<String>) -> Self {
        Self::placed(code, span, message.into())
    }

    fn placed(code: Code, span: Option<Span>, message: String) -> Self {
        Diagnostic {
            severity: if code.is_warning() {
                Severity::Warning
            } else {
                Severity::Error
            },
            code,
            message,
            span,
            primary_label: String::new(),
            labels: Vec::new(),
            help: None,
            suggestion: None,
        }
    }

    /// Same as [`Diagnostic::error`]; the severity follows from the code.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::error(code, span, message)
    }

    pub fn with_primary_label(mut self, text: impl Into<String>) -> Self {
        self.primary_label = text.into();
        self
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A machine-applicable fix: replace `span` with `replacement`.
    pub fn with_suggestion(mut self, span: Span, replacement: impl Into<String>) -> Self {
        self.suggestion = Some((span, replacement.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Source order: by primary span, diagnostics without a place first.
    pub fn sort_key(&self) -> (usize, usize) {
        self.span.map_or((0, 0), |s| (s.start, s.end))
    }
}

/// True when any diagnostic is an error (warnings allowed).
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}
