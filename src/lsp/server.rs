//! The message loop: the initialize handshake, document sync, request dispatch
//! and shutdown. Every handler runs under `catch_unwind`, so a bug in one answer
//! becomes an `InternalError` response, never a dead server.

use super::analysis::Analysis;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, CompletionParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentSymbolParams, GotoDefinitionParams, GotoDefinitionResponse,
    HoverParams, HoverProviderCapability, InitializeResult, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What the server offers. Formatting is deliberately absent: there is no
/// formatter.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string()]),
            ..Default::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

struct Document {
    text: String,
    /// `None` only if checking panicked (a checker bug): requests then answer empty.
    analysis: Option<Analysis>,
}

#[derive(Default)]
struct Server {
    /// Open documents by URI text.
    docs: HashMap<String, Document>,
}

/// Serves one connection until `exit` or the end of input. True when the
/// client sent `shutdown` before `exit` (exit status 0).
pub fn serve(conn: &Connection) -> bool {
    let mut server = Server::default();
    let mut initialized = false;
    let mut shutting_down = false;
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                let response = if req.method == "initialize" {
                    if initialized {
                        error(req.id, ErrorCode::InvalidRequest, "already initialized")
                    } else {
                        initialized = true;
                        let result = InitializeResult {
                            capabilities: capabilities(),
                            server_info: Some(ServerInfo {
                                name: "gradlang".to_string(),
                                version: Some(env!("CARGO_PKG_VERSION").to_string()),
                            }),
                        };
                        Response::new_ok(req.id, result)
                    }
                } else if !initialized {
                    error(
                        req.id,
                        ErrorCode::ServerNotInitialized,
                        "the first request must be `initialize`",
                    )
                } else if shutting_down {
                    error(
                        req.id,
                        ErrorCode::InvalidRequest,
                        "the server is shutting down",
                    )
                } else if req.method == "shutdown" {
                    shutting_down = true;
                    server.docs.clear();
                    Response::new_ok(req.id, ())
                } else {
                    let id = req.id.clone();
                    let method = req.method.clone();
                    match catch_unwind(AssertUnwindSafe(|| server.request(req))) {
                        Ok(r) => r,
                        Err(_) => error(
                            id,
                            ErrorCode::InternalError,
                            &format!("internal error while answering `{method}`"),
                        ),
                    }
                };
                if conn.sender.send(response.into()).is_err() {
                    return false;
                }
            }
            Message::Notification(n) => {
                if n.method == "exit" {
                    return shutting_down;
                }
                if !initialized || shutting_down {
                    continue;
                }
                let method = n.method.clone();
                let out = catch_unwind(AssertUnwindSafe(|| server.notification(n))).unwrap_or_else(
                    |_| {
                        eprintln!("gradlang lsp: internal error while handling `{method}`");
                        Vec::new()
                    },
                );
                for m in out {
                    if conn.sender.send(m).is_err() {
                        return false;
                    }
                }
            }
            // The server sends no requests, so there is nothing to match.
            Message::Response(_) => {}
        }
    }
    false
}

fn error(id: RequestId, code: ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

impl Server {
    fn request(&mut self, req: Request) -> Response {
        match req.method.as_str() {
            "textDocument/hover" => self.on(
                req,
                |p: &HoverParams| &p.text_document_position_params.text_document.uri,
                |a, _, p| super::hover::hover(a, p.text_document_position_params.position),
            ),
            "textDocument/definition" => self.on(
                req,
                |p: &GotoDefinitionParams| &p.text_document_position_params.text_document.uri,
                |a, uri, p| {
                    super::definition::definition(a, uri, p.text_document_position_params.position)
                        .map(GotoDefinitionResponse::Scalar)
                },
            ),
            "textDocument/completion" => self.on(
                req,
                |p: &CompletionParams| &p.text_document_position.text_document.uri,
                |a, _, p| super::completion::completion(a, p.text_document_position.position),
            ),
            "textDocument/documentSymbol" => self.on(
                req,
                |p: &DocumentSymbolParams| &p.text_document.uri,
                |a, _, _| super::symbols::document_symbols(a),
            ),
            _ => error(
                req.id,
                ErrorCode::MethodNotFound,
                &format!("unknown method `{}`", req.method),
            ),
        }
    }

    /// Decodes the params, finds the document and answers; bad params get
    /// `InvalidParams`, an unknown document the default (null or empty) answer.
    fn on<P, R>(
        &self,
        req: Request,
        uri_of: impl Fn(&P) -> &Uri,
        answer: impl FnOnce(&Analysis, &Uri, P) -> R,
    ) -> Response
    where
        P: DeserializeOwned,
        R: Serialize + Default,
    {
        let params: P = match serde_json::from_value(req.params) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    req.id,
                    ErrorCode::InvalidParams,
                    &format!("invalid params for `{}`: {e}", req.method),
                )
            }
        };
        let uri = uri_of(&params).clone();
        let result = match self
            .docs
            .get(uri.as_str())
            .and_then(|d| d.analysis.as_ref())
        {
            Some(a) => answer(a, &uri, params),
            None => R::default(),
        };
        Response::new_ok(req.id, result)
    }

    /// Document sync; returns the diagnostics to publish.
    fn notification(&mut self, n: Notification) -> Vec<Message> {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    eprintln!("gradlang lsp: ignoring didOpen with invalid params");
                    return Vec::new();
                };
                let doc = p.text_document;
                self.update(doc.uri, doc.version, doc.text)
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    eprintln!("gradlang lsp: ignoring didChange with invalid params");
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                let Some(doc) = self.docs.get(uri.as_str()) else {
                    return Vec::new();
                };
                let mut text = doc.text.clone();
                for change in p.content_changes {
                    apply_change(&mut text, change);
                }
                self.update(uri, p.text_document.version, text)
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                self.docs.remove(uri.as_str());
                vec![publish(uri, Vec::new(), None)]
            }
            _ => Vec::new(),
        }
    }

    fn update(&mut self, uri: Uri, version: i32, text: String) -> Vec<Message> {
        let analysis = catch_unwind(AssertUnwindSafe(|| Analysis::new(text.clone()))).ok();
        let diagnostics = match &analysis {
            Some(a) => super::diagnostics::to_lsp(a, &uri),
            None => {
                eprintln!(
                    "gradlang lsp: internal error while checking {}",
                    uri.as_str()
                );
                Vec::new()
            }
        };
        self.docs
            .insert(uri.as_str().to_string(), Document { text, analysis });
        vec![publish(uri, diagnostics, Some(version))]
    }
}

/// Applies one change: the whole text, or (if a client sends them anyway) a range.
fn apply_change(text: &mut String, change: lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(range) => {
            let map = crate::diagnostics::SourceMap::new(text);
            let start = map.offset_of_utf16(range.start.line, range.start.character);
            let end = map.offset_of_utf16(range.end.line, range.end.character);
            let (start, end) = (start.min(end), start.max(end));
            text.replace_range(start..end, &change.text);
        }
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) -> Message {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version,
    };
    Notification::new("textDocument/publishDiagnostics".to_string(), params).into()
}
