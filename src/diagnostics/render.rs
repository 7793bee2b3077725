//! Human rendering through miette: source lines, underlines and labels, like rustc.

use super::{Diagnostic, Severity};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;

/// Adapter that lets miette render one of our diagnostics against its source.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

fn source_span(span: super::Span, text_len: usize) -> SourceSpan {
    let start = span.start.min(text_len);
    let end = span.end.clamp(start, text_len);
    SourceSpan::new(start.into(), end - start)
}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        let d = self.diagnostic;
        let primary_text = (!d.primary_label.is_empty()).then(|| d.primary_label.clone());
        let primary = LabeledSpan::new_primary_with_span(primary_text, source_span(d.span, len));
        let secondary = d.labels.iter().map(move |l| {
            LabeledSpan::new_with_span(Some(l.message.clone()), source_span(l.span, len))
        });
        Some(Box::new(std::iter::once(primary).chain(secondary)))
    }
}

/// Renders diagnostics as rustc-like text. `color` adds ANSI colors (for a terminal).
pub fn render_human(
    diagnostics: &[Diagnostic],
    file_name: &str,
    text: &str,
    color: bool,
) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report {
            diagnostic,
            source: NamedSource::new(file_name, text.to_string()).with_language("gradlang"),
        };
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail for I/O reasons; fall back to
            // the plain message rather than losing the diagnostic.
            out.push_str(&format!(
                "{}[{}]: {}\n",
                diagnostic.severity.as_str(),
                diagnostic.code,
                diagnostic.message
            ));
        }
    }
    out
}
