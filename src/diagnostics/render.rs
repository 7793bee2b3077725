//! Human rendering through miette: source lines, underlines and labels, like rustc.
//!
//! Linear in the size of the output, whatever the number of diagnostics: the
//! source is indexed once ([`SourceMap`]) and miette only ever sees the few
//! lines around a span ([`IndexedSource`]), never the text before them.
//!
//! A diagnostic without a place, or one on a line too long to show (miette pads
//! with `{:width$}`, which panics past 65,535 columns, and a snippet of such a
//! line is unreadable anyway), is rendered plainly: its message, `--> file:line:col`,
//! its labels and help, one per line.

use super::{Diagnostic, Severity, SourceMap, Span};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use std::fmt::{self, Write as _};

/// Lines longer than this (in bytes) are not shown as snippets.
pub const MAX_SNIPPET_LINE_BYTES: usize = 4096;

/// The source text with its line index, handing miette only the lines it asks for.
struct IndexedSource<'a> {
    name: &'a str,
    text: &'a str,
    map: &'a SourceMap<'a>,
}

impl SourceCode for IndexedSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let (start, end) = (span.offset(), span.offset() + span.len());
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        // The window: whole lines from `context_lines_before` before the span's
        // first line to `context_lines_after` after its last, newline included.
        let first = self
            .map
            .line_index(start)
            .saturating_sub(context_lines_before);
        let last = self.map.line_index(end.saturating_sub(1).max(start)) + context_lines_after;
        let from = self.map.line_start(first);
        let to = self.map.line_start(last + 1);
        let window = &self.text.as_bytes()[from..to];
        let local = SourceSpan::new((start - from).into(), span.len());
        let inner = window.read_span(&local, context_lines_before, context_lines_after)?;
        let data: &'b [u8] = inner.data();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            data,
            SourceSpan::new((inner.span().offset() + from).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Adapter that lets miette render one of our diagnostics against its source.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    span: Span,
    source: &'a IndexedSource<'a>,
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

fn source_span(span: Span, text_len: usize) -> SourceSpan {
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

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.text.len();
        let d = self.diagnostic;
        let primary_text = (!d.primary_label.is_empty()).then(|| d.primary_label.clone());
        let primary = LabeledSpan::new_primary_with_span(primary_text, source_span(self.span, len));
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
    let map = SourceMap::new(text);
    let source = IndexedSource {
        name: file_name,
        text,
        map: &map,
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let Some(span) = diagnostic.span else {
            render_plain(&mut out, diagnostic, file_name, &map);
            continue;
        };
        let spans = std::iter::once(span).chain(diagnostic.labels.iter().map(|l| l.span));
        if spans.into_iter().any(|s| !showable(&map, s)) {
            render_plain(&mut out, diagnostic, file_name, &map);
            continue;
        }
        let report = Report {
            diagnostic,
            span,
            source: &source,
        };
        let before = out.len();
        if handler.render_report(&mut out, &report).is_err() {
            out.truncate(before);
            render_plain(&mut out, diagnostic, file_name, &map);
        }
    }
    out
}

/// True when every line `span` touches is short enough for a snippet.
fn showable(map: &SourceMap<'_>, span: Span) -> bool {
    let first = map.line_index(span.start);
    let last = map.line_index(span.end.max(span.start));
    (first..=last).all(|line| map.line_len(line) <= MAX_SNIPPET_LINE_BYTES)
}

/// One line per fact, no snippet: for diagnostics without a place or on huge lines.
fn render_plain(out: &mut String, d: &Diagnostic, file_name: &str, map: &SourceMap<'_>) {
    let _ = writeln!(out, "{}[{}]: {}", d.severity.as_str(), d.code, d.message);
    if let Some(span) = d.span {
        let lc = map.line_col(span.start);
        let _ = writeln!(out, "  --> {file_name}:{}:{}", lc.line, lc.column);
        if !d.primary_label.is_empty() {
            let _ = writeln!(out, "  = {}", d.primary_label);
        }
    }
    for l in &d.labels {
        let lc = map.line_col(l.span.start);
        let _ = writeln!(
            out,
            "  = {file_name}:{}:{}: {}",
            lc.line, lc.column, l.message
        );
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  help: {h}");
    }
}
