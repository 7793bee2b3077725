//! Checker diagnostics as LSP diagnostics: the same data `gradlang check`
//! reports (code, message, help, labels), with UTF-16 ranges.

use super::analysis::{range_in, Analysis};
use crate::diagnostics::{Code, Diagnostic, Severity, SourceMap};
use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location, NumberOrString, Uri,
};

/// Every diagnostic of the document, in source order.
pub fn to_lsp(analysis: &Analysis, uri: &Uri) -> Vec<lsp_types::Diagnostic> {
    let map = analysis.map();
    analysis
        .checked
        .diagnostics
        .iter()
        .map(|d| convert(d, &map, uri))
        .collect()
}

pub fn convert(d: &Diagnostic, map: &SourceMap<'_>, uri: &Uri) -> lsp_types::Diagnostic {
    // A diagnostic without a place in the source is shown at the top of the file.
    let range = d
        .span
        .map_or_else(lsp_types::Range::default, |s| range_in(map, s));
    let mut message = d.message.clone();
    // Neovim, Helix and eglot show no related information: the operand shapes
    // ("`x` is [N, D]") go into the message as well.
    let notes: Vec<String> = d
        .labels
        .iter()
        .filter(|l| !l.message.is_empty())
        .map(|l| {
            if l.message.contains("here") {
                format!(
                    "{}, line {}",
                    l.message,
                    map.utf16_position(l.span.start).0 + 1
                )
            } else {
                l.message.clone()
            }
        })
        .collect();
    if !notes.is_empty() {
        message.push_str(&format!(" ({})", notes.join("; ")));
    }
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    // The primary label first (it explains the underlined text), then the others.
    let mut related = Vec::new();
    if !d.primary_label.is_empty() {
        related.push(DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), range),
            message: d.primary_label.clone(),
        });
    }
    related.extend(d.labels.iter().map(|l| DiagnosticRelatedInformation {
        location: Location::new(uri.clone(), range_in(map, l.span)),
        message: l.message.clone(),
    }));
    lsp_types::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        code_description: None,
        source: Some("gradlang".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        // Unused bindings are shown faded.
        tags: (d.code == Code::W0001).then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}
