//! The message loop: the initialize handshake, document sync, request dispatch
//! and shutdown. Every handler runs under `catch_unwind`, so a bug in one answer
//! becomes an `InternalError` response, never a dead server.
//!
//! Checking happens off the message loop, on one worker thread ([`worker`]):
//! a change records the new text and queues a check, replacing any check of the
//! same document still waiting, so a burst of keystrokes costs at most the check
//! already running plus one. A change (or close) of the document being checked
//! also cancels that check: the parser and the checker stop at their next
//! statement, so a keystroke never waits for a stale check to finish; a check
//! that finishes anyway after its document changed is dropped (its diagnostics
//! are never published). Requests are answered from the analysis of the current
//! text, waiting for it if it is being computed. With `trace` set to `messages`
//! or `verbose` (at `initialize` or by `$/setTrace`), every check started,
//! finished or cancelled is reported by a `$/logTrace` notification.

use super::analysis::Analysis;
use crate::cancel::Cancel;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionParams, CodeActionProviderCapability,
    CompletionOptions, CompletionParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentFormattingParams, DocumentHighlightParams,
    DocumentSymbolParams, GotoDefinitionParams, GotoDefinitionResponse, HoverParams,
    HoverProviderCapability, InitializeResult, InlayHintParams, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ReferenceParams, RenameOptions, RenameParams,
    SemanticTokensDeltaParams, SemanticTokensFullOptions, SemanticTokensOptions,
    SemanticTokensParams, SemanticTokensServerCapabilities, ServerCapabilities, ServerInfo,
    SignatureHelpOptions, SignatureHelpParams, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions, Uri,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a request waits for the check of the current text before it is
/// answered from the last finished one.
const WAIT_FOR_CHECK: Duration = Duration::from_secs(20);

/// What the server offers.
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
        inlay_hint_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        references_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".to_string(), ",".to_string()]),
            retrigger_characters: Some(vec![",".to_string()]),
            work_done_progress_options: Default::default(),
        }),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: super::tokens::legend(),
                range: None,
                full: Some(SemanticTokensFullOptions::Delta { delta: Some(true) }),
                work_done_progress_options: Default::default(),
            },
        )),
        ..Default::default()
    }
}

struct Doc {
    text: String,
    /// Increases with every change of any document (a reopened document never
    /// takes an old check for its own).
    generation: u64,
    /// The last finished analysis; `None` before the first one or if checking
    /// panicked (a checker bug): requests then answer empty.
    analysis: Option<Arc<Analysis>>,
    /// The generation `analysis` was computed for.
    analyzed: Option<u64>,
}

struct Job {
    uri: Uri,
    version: i32,
    generation: u64,
    text: String,
}

#[derive(Default)]
struct State {
    docs: HashMap<String, Doc>,
    /// Checks waiting for the worker, at most one per document.
    queue: Vec<Job>,
    /// The document the worker is checking, and how to cancel that check.
    running: Option<(String, Cancel)>,
    next_generation: u64,
    /// Whether checks are reported by `$/logTrace` (`trace` is not `off`).
    tracing: bool,
    stop: bool,
}

impl State {
    /// Cancels the running check of `uri`, if there is one: its text is stale.
    fn cancel_check_of(&self, uri: &str) {
        if let Some((checking, cancel)) = &self.running {
            if checking == uri {
                cancel.cancel();
            }
        }
    }

    /// Cancels whatever check is running (shutdown).
    fn cancel_running_check(&self) {
        if let Some((_, cancel)) = &self.running {
            cancel.cancel();
        }
    }
}

/// The documents and the check queue, shared by the message loop and the worker.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued, a check finishes, or the server stops.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Server {
    shared: Arc<Shared>,
    /// Hover in Markdown unless the client prefers plaintext.
    markdown: bool,
    /// The last semantic tokens sent per document: (result id, data).
    tokens: HashMap<String, (String, Vec<u32>)>,
    next_result_id: u64,
}

/// Serves one connection until `exit` or the end of input. True when the
/// client sent `shutdown` before `exit` (exit status 0).
pub fn serve(conn: &Connection) -> bool {
    let shared = Arc::new(Shared::default());
    let worker = {
        let shared = shared.clone();
        let sender = conn.sender.clone();
        std::thread::Builder::new()
            .name("gradlang-check".to_string())
            .stack_size(256 << 20)
            .spawn(move || worker(&shared, move |m| sender.send(m).is_ok()))
    };
    let mut server = Server {
        shared: shared.clone(),
        markdown: true,
        tokens: HashMap::new(),
        next_result_id: 1,
    };
    let clean = server.run(conn);
    let mut st = shared.lock();
    st.stop = true;
    st.cancel_running_check();
    drop(st);
    shared.changed.notify_all();
    if let Ok(handle) = worker {
        let _ = handle.join();
    }
    clean
}

/// The checking thread: takes queued checks one at a time, stores the result
/// if the document has not changed since, and publishes its diagnostics.
fn worker(shared: &Shared, mut send: impl FnMut(Message) -> bool) {
    loop {
        let cancel = Cancel::new();
        let (job, tracing) = {
            let mut st = shared.lock();
            loop {
                if st.stop {
                    return;
                }
                if !st.queue.is_empty() {
                    let job = st.queue.remove(0);
                    st.running = Some((job.uri.as_str().to_string(), cancel.clone()));
                    break (job, st.tracing);
                }
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Job {
            uri,
            version,
            generation,
            text,
        } = job;
        let what = format!("{} (version {version})", uri.as_str());
        if tracing && !send(log_trace(format!("checking {what}"))) {
            return;
        }
        let started = Instant::now();
        let checked = catch_unwind(AssertUnwindSafe(|| {
            let a = Analysis::check(text, &cancel)?;
            let diagnostics = super::diagnostics::to_lsp(&a, &uri);
            Some((a, diagnostics))
        }));
        shared.lock().running = None;
        let (analysis, diagnostics) = match checked {
            Ok(Some((a, d))) => (Some(a), d),
            Ok(None) => {
                let message = format!("check of {what} cancelled: the document changed");
                if tracing && !send(log_trace(message)) {
                    return;
                }
                continue;
            }
            Err(_) => {
                eprintln!(
                    "gradlang lsp: internal error while checking {}",
                    uri.as_str()
                );
                (None, Vec::new())
            }
        };
        let current = {
            let mut st = shared.lock();
            match st.docs.get_mut(uri.as_str()) {
                Some(doc) if doc.generation == generation => {
                    doc.analysis = analysis.map(Arc::new);
                    doc.analyzed = Some(generation);
                    true
                }
                _ => false,
            }
        };
        shared.changed.notify_all();
        if tracing {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let message = if current {
                format!("checked {what} in {ms:.1} ms")
            } else {
                format!("checked {what} in {ms:.1} ms; dropped: the document changed")
            };
            if !send(log_trace(message)) {
                return;
            }
        }
        if current && !send(publish(uri, diagnostics, Some(version))) {
            return;
        }
    }
}

fn log_trace(message: String) -> Message {
    Notification::new(
        "$/logTrace".to_string(),
        lsp_types::LogTraceParams {
            message,
            verbose: None,
        },
    )
    .into()
}

/// Whether a `trace` value (`"off"`, `"messages"`, `"verbose"`) asks for traces.
fn traces(value: Option<&Value>) -> bool {
    matches!(value.and_then(Value::as_str), Some("messages" | "verbose"))
}

fn error(id: RequestId, code: ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

impl Server {
    fn run(&mut self, conn: &Connection) -> bool {
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
                            self.markdown = !prefers_plaintext(&req.params);
                            self.shared.lock().tracing = traces(req.params.get("trace"));
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
                        let mut st = self.shared.lock();
                        st.docs.clear();
                        st.queue.clear();
                        st.cancel_running_check();
                        drop(st);
                        self.tokens.clear();
                        Response::new_ok(req.id, ())
                    } else {
                        let id = req.id.clone();
                        let method = req.method.clone();
                        match catch_unwind(AssertUnwindSafe(|| self.request(req))) {
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
                    let out = catch_unwind(AssertUnwindSafe(|| self.notification(n)))
                        .unwrap_or_else(|_| {
                            eprintln!("gradlang lsp: internal error while handling `{method}`");
                            Vec::new()
                        });
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

    fn request(&mut self, req: Request) -> Response {
        let markdown = self.markdown;
        match req.method.as_str() {
            "textDocument/hover" => self.on(
                req,
                |p: &HoverParams| &p.text_document_position_params.text_document.uri,
                |a, _, p| {
                    super::hover::hover(a, p.text_document_position_params.position, markdown)
                },
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
            "textDocument/inlayHint" => self.on(
                req,
                |p: &InlayHintParams| &p.text_document.uri,
                |a, _, p| super::inlay::inlay_hints(a, p.range),
            ),
            "textDocument/codeAction" => self.on(
                req,
                |p: &CodeActionParams| &p.text_document.uri,
                |a, uri, p| super::actions::code_actions(a, uri, p.range),
            ),
            "textDocument/references" => self.on(
                req,
                |p: &ReferenceParams| &p.text_document_position.text_document.uri,
                |a, uri, p| {
                    super::references::references(
                        a,
                        uri,
                        p.text_document_position.position,
                        p.context.include_declaration,
                    )
                },
            ),
            "textDocument/documentHighlight" => self.on(
                req,
                |p: &DocumentHighlightParams| &p.text_document_position_params.text_document.uri,
                |a, _, p| super::references::highlight(a, p.text_document_position_params.position),
            ),
            "textDocument/prepareRename" => self.on_result(
                req,
                |p: &TextDocumentPositionParams| &p.text_document.uri,
                |a, _, p| super::references::prepare_rename(a, p.position),
            ),
            "textDocument/rename" => self.on_result(
                req,
                |p: &RenameParams| &p.text_document_position.text_document.uri,
                |a, uri, p| {
                    super::references::rename(
                        a,
                        uri,
                        p.text_document_position.position,
                        &p.new_name,
                    )
                },
            ),
            "textDocument/formatting" => self.on_result(
                req,
                |p: &DocumentFormattingParams| &p.text_document.uri,
                |a, _, _| super::formatting::formatting(a),
            ),
            "textDocument/signatureHelp" => self.on(
                req,
                |p: &SignatureHelpParams| &p.text_document_position_params.text_document.uri,
                |a, _, p| {
                    super::signature::signature_help(a, p.text_document_position_params.position)
                },
            ),
            "textDocument/semanticTokens/full" => {
                let mut result = None;
                let response = self.on(
                    req,
                    |p: &SemanticTokensParams| &p.text_document.uri,
                    |a, uri, _| {
                        let data = super::tokens::semantic_tokens(a);
                        result = Some((uri.as_str().to_string(), data.clone()));
                        Some(data)
                    },
                );
                self.tokens_response(response, result, None)
            }
            "textDocument/semanticTokens/full/delta" => {
                let mut result = None;
                let mut previous = String::new();
                let response = self.on(
                    req,
                    |p: &SemanticTokensDeltaParams| &p.text_document.uri,
                    |a, uri, p| {
                        let data = super::tokens::semantic_tokens(a);
                        previous = p.previous_result_id;
                        result = Some((uri.as_str().to_string(), data.clone()));
                        Some(data)
                    },
                );
                self.tokens_response(response, result, Some(previous))
            }
            _ => error(
                req.id,
                ErrorCode::MethodNotFound,
                &format!("unknown method `{}`", req.method),
            ),
        }
    }

    /// Turns freshly computed token data into a full or delta answer, and
    /// remembers it under a new result id.
    fn tokens_response(
        &mut self,
        response: Response,
        computed: Option<(String, Vec<u32>)>,
        previous: Option<String>,
    ) -> Response {
        let Some((uri, data)) = computed else {
            return response;
        };
        let result_id = self.next_result_id.to_string();
        self.next_result_id += 1;
        let old = self.tokens.insert(uri, (result_id.clone(), data.clone()));
        let result = match (previous, old) {
            (Some(prev), Some((old_id, old_data))) if prev == old_id => {
                serde_json::json!({
                    "resultId": result_id,
                    "edits": super::tokens::delta(&old_data, &data),
                })
            }
            _ => serde_json::json!({"resultId": result_id, "data": data}),
        };
        Response::new_ok(response.id, result)
    }

    /// The analysis of the current text of `uri`: waits while it is being
    /// checked; `None` for an unknown document.
    fn analysis(&self, uri: &Uri) -> Option<Arc<Analysis>> {
        let deadline = Instant::now() + WAIT_FOR_CHECK;
        let mut st = self.shared.lock();
        loop {
            let doc = st.docs.get(uri.as_str())?;
            let left = deadline.saturating_duration_since(Instant::now());
            if doc.analyzed == Some(doc.generation) || left.is_zero() {
                return doc.analysis.clone();
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn params<P: DeserializeOwned>(req: &mut Request) -> Result<P, Response> {
        let value = std::mem::take(&mut req.params);
        serde_json::from_value(value).map_err(|e| {
            error(
                req.id.clone(),
                ErrorCode::InvalidParams,
                &format!("invalid params for `{}`: {e}", req.method),
            )
        })
    }

    /// Decodes the params, finds the document and answers; bad params get
    /// `InvalidParams`, an unknown document the default (null or empty) answer.
    fn on<P, R>(
        &self,
        mut req: Request,
        uri_of: impl Fn(&P) -> &Uri,
        answer: impl FnOnce(&Analysis, &Uri, P) -> R,
    ) -> Response
    where
        P: DeserializeOwned,
        R: Serialize + Default,
    {
        let params: P = match Self::params(&mut req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let uri = uri_of(&params).clone();
        let result = match self.analysis(&uri) {
            Some(a) => answer(&a, &uri, params),
            None => R::default(),
        };
        Response::new_ok(req.id, result)
    }

    /// Like [`Server::on`], for requests that can be refused with a message
    /// (`RequestFailed`), such as a rename to a keyword.
    fn on_result<P>(
        &self,
        mut req: Request,
        uri_of: impl Fn(&P) -> &Uri,
        answer: impl FnOnce(&Analysis, &Uri, P) -> Result<Value, String>,
    ) -> Response
    where
        P: DeserializeOwned,
    {
        let params: P = match Self::params(&mut req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let uri = uri_of(&params).clone();
        match self.analysis(&uri) {
            Some(a) => match answer(&a, &uri, params) {
                Ok(v) => Response::new_ok(req.id, v),
                Err(message) => error(req.id, ErrorCode::RequestFailed, &message),
            },
            None => Response::new_ok(req.id, Value::Null),
        }
    }

    /// Document sync; returns the messages to send now (only didClose's empty
    /// diagnostics: the worker publishes the others).
    fn notification(&mut self, n: Notification) -> Vec<Message> {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    eprintln!("gradlang lsp: ignoring didOpen with invalid params");
                    return Vec::new();
                };
                let doc = p.text_document;
                self.update(doc.uri, doc.version, doc.text);
                Vec::new()
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    eprintln!("gradlang lsp: ignoring didChange with invalid params");
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                let mut text = {
                    let st = self.shared.lock();
                    let Some(doc) = st.docs.get(uri.as_str()) else {
                        return Vec::new();
                    };
                    doc.text.clone()
                };
                for change in p.content_changes {
                    apply_change(&mut text, change);
                }
                self.update(uri, p.text_document.version, text);
                Vec::new()
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                let mut st = self.shared.lock();
                st.docs.remove(uri.as_str());
                st.queue.retain(|j| j.uri != uri);
                st.cancel_check_of(uri.as_str());
                drop(st);
                self.tokens.remove(uri.as_str());
                vec![publish(uri, Vec::new(), None)]
            }
            "$/setTrace" => {
                self.shared.lock().tracing = traces(n.params.get("value"));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Records the new text and queues its check, replacing a queued check of
    /// the same document.
    fn update(&mut self, uri: Uri, version: i32, text: String) {
        let mut st = self.shared.lock();
        st.next_generation += 1;
        let generation = st.next_generation;
        let key = uri.as_str().to_string();
        let old = st.docs.remove(&key);
        st.docs.insert(
            key,
            Doc {
                text: text.clone(),
                generation,
                analysis: old.as_ref().and_then(|d| d.analysis.clone()),
                analyzed: old.and_then(|d| d.analyzed),
            },
        );
        st.queue.retain(|j| j.uri != uri);
        st.cancel_check_of(uri.as_str());
        st.queue.push(Job {
            uri,
            version,
            generation,
            text,
        });
        drop(st);
        self.shared.changed.notify_all();
    }
}

/// True when the client lists plaintext first in `hover.contentFormat`.
fn prefers_plaintext(params: &Value) -> bool {
    params
        .pointer("/capabilities/textDocument/hover/contentFormat/0")
        .and_then(Value::as_str)
        == Some("plaintext")
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
