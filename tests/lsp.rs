//! The language server, tested the way an editor uses it: spawn `gradlang lsp`,
//! speak JSON-RPC with `Content-Length` framing over its stdin/stdout, and check
//! the answers. Every wait has a timeout, so a hung server fails the test.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
const URI: &str = "file:///virtual/model.grad";

/// A running server and the messages it sent that nobody has looked at yet.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    pending: Vec<Value>,
    next_id: i64,
    stderr: Arc<Mutex<String>>,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gradlang"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gradlang lsp");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut r) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            incoming: rx,
            pending: Vec::new(),
            next_id: 1,
            stderr,
        }
    }

    /// Starts a server and completes the initialize handshake; returns the
    /// initialize result too.
    fn initialized() -> (Client, Value) {
        let mut c = Client::start();
        let result = c.request_ok(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        c.notify("initialized", json!({}));
        (c, result)
    }

    /// Like [`Client::initialized`], with the given client capabilities.
    fn initialized_with(capabilities: Value) -> Client {
        let mut c = Client::start();
        c.request_ok(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": capabilities}),
        );
        c.notify("initialized", json!({}));
        c
    }

    fn send_raw(&mut self, body: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        stdin.flush().expect("flush");
    }

    /// Bytes as they are, no framing added.
    fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    fn request_ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// The first message (already received or still to come) matching `pred`.
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(m) if pred(&m) => return m,
                Ok(m) => self.pending.push(m),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no answer from the server within {TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the server closed its output; stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Value {
        let uri = uri.to_string();
        self.wait_for(move |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str()
        })["params"]
            .clone()
    }

    fn open(&mut self, uri: &str, text: &str) -> Value {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "gradlang", "version": 1, "text": text}}),
        );
        self.diagnostics(uri)
    }

    fn change(&mut self, uri: &str, version: i32, text: &str) -> Value {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        );
        self.diagnostics(uri)
    }

    fn at(&mut self, method: &str, uri: &str, pos: Value) -> Value {
        self.request_ok(
            method,
            json!({"textDocument": {"uri": uri}, "position": pos}),
        )
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// shutdown + exit, and the server must exit with status 0.
    fn finish(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r}");
        assert!(r.get("error").is_none(), "{r}");
        self.notify("exit", Value::Null);
        self.stdin.take();
        let status = self.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The LSP position (0-based line, UTF-16 column) of the `nth` occurrence of
/// `needle` in `text`, plus `delta` characters. Computed here independently of
/// the server's own conversion.
fn pos(text: &str, needle: &str, nth: usize, delta: usize) -> Value {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} not in the text"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col: usize = text[line_start..offset].encode_utf16().count() + delta;
    json!({"line": line, "character": col})
}

/// A valid program: a layer, an instance, a derivative of each kind used here.
const MODEL: &str = "\
# ∂L/∂x — 日本: a linear map and a layer
dim N = 64
dim D = 4096
dim M = 4096
dim T

layer Dense[I, O](x: [B, I]) -> [B, O] {
  param W: [I, O] = normal(0, sqrt(2 / I))
  param b: [O] = zeros
  return relu(x @ W + b)
}

fc1 = Dense[D, M]
input x: [N, D] = normal(0, 1)
param W: [D, M] = normal(0, 0.01)
y = x @ W
h = fc1(x)
loss L = sum(y * y) + sum(h)
dx = grad(L, x)
J = jacobian(y, x)
dW1 = grad(L, fc1.W)
";

/// Errors, one of them after non-ASCII text on its own line.
const BROKEN: &str = "\
# ∂L/∂x — 日本
dim N = 4, D = 3
input x: [N, D] = zeros
param W: [N, D] = zeros
y = x @ W
w = x 𝜕 日本; v = qq
";

#[test]
fn initialize_advertises_every_feature() {
    let (c, result) = Client::initialized();
    let caps = &result["capabilities"];
    assert_eq!(caps["textDocumentSync"]["change"], 1, "full sync");
    assert_eq!(caps["hoverProvider"], true);
    assert_eq!(caps["definitionProvider"], true);
    assert_eq!(caps["documentSymbolProvider"], true);
    assert_eq!(
        caps["completionProvider"]["triggerCharacters"],
        json!(["."])
    );
    for feature in [
        "inlayHintProvider",
        "codeActionProvider",
        "renameProvider",
        "referencesProvider",
        "documentHighlightProvider",
        "signatureHelpProvider",
        "semanticTokensProvider",
    ] {
        assert!(caps.get(feature).is_some(), "{feature} in {caps:#}");
    }
    assert_eq!(caps["semanticTokensProvider"]["full"]["delta"], true);
    assert_eq!(caps["renameProvider"]["prepareProvider"], true);
    assert_eq!(caps["documentFormattingProvider"], true);
    assert!(caps.get("documentRangeFormattingProvider").is_none());
    assert_eq!(caps["positionEncoding"], "utf-16");
    let mut result = result;
    assert_eq!(result["serverInfo"]["name"], "gradlang");
    result["serverInfo"]["version"] = json!("[version]");
    insta::assert_json_snapshot!("initialize", result);
    c.finish();
}

#[test]
fn diagnostics_carry_codes_help_labels_and_utf16_ranges() {
    let (mut c, _) = Client::initialized();
    let published = c.open(URI, BROKEN);
    let diags = published["diagnostics"].as_array().expect("array").clone();
    let codes: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0302", "E0101", "E0201"], "{published:#}");
    for d in &diags {
        assert_eq!(d["source"], "gradlang");
        assert_eq!(d["severity"], 1, "error");
    }
    // `x @ W` with W: [N, D]: the help and the operand labels come along.
    let matmul = &diags[0];
    assert!(
        matmul["message"].as_str().unwrap().contains("help:"),
        "{matmul}"
    );
    assert!(
        matmul["relatedInformation"].as_array().unwrap().len() >= 2,
        "{matmul}"
    );
    // `w = x 𝜕 日本; v = qq`: 𝜕 is one character but two UTF-16 code units, so
    // it covers columns 6..8; `qq` starts at UTF-16 column 17 (bytes: 23).
    assert_eq!(
        diags[1]["range"],
        json!({"start": {"line": 5, "character": 6}, "end": {"line": 5, "character": 8}})
    );
    assert_eq!(
        diags[2]["range"],
        json!({"start": {"line": 5, "character": 17}, "end": {"line": 5, "character": 19}})
    );
    assert_eq!(diags[2]["range"]["start"], pos(BROKEN, "qq", 0, 0));
    insta::assert_json_snapshot!("diagnostics_broken", published);
    c.finish();
}

#[test]
fn diagnostics_follow_every_change() {
    let (mut c, _) = Client::initialized();
    let first = c.open(URI, BROKEN);
    assert_eq!(first["diagnostics"].as_array().unwrap().len(), 3);
    // Fixed: no diagnostics at all.
    let fixed = BROKEN
        .replace("x @ W", "x @ W.T")
        .replace("w = x 𝜕 日本; v = qq\n", "");
    let second = c.change(URI, 2, &fixed);
    assert_eq!(second["diagnostics"], json!([]), "{second}");
    assert_eq!(second["version"], 2);
    // A warning: an unused instance is W0001, severity 2, faded.
    let third = c.change(
        URI,
        3,
        "layer L[K](a: [K]) -> [K] {\n  return a\n}\nf = L[3]\n",
    );
    let d = &third["diagnostics"][0];
    assert_eq!(d["code"], "W0001", "{third}");
    assert_eq!(d["severity"], 2);
    assert_eq!(d["tags"], json!([1]));
    // Closing the document clears its diagnostics.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": URI}}),
    );
    assert_eq!(c.diagnostics(URI)["diagnostics"], json!([]));
    c.finish();
}

#[test]
fn valid_model_has_only_the_large_jacobian_warning() {
    let (mut c, _) = Client::initialized();
    let published = c.open(URI, MODEL);
    insta::assert_json_snapshot!("diagnostics_model", published);
    let codes: Vec<&Value> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["code"])
        .collect();
    assert_eq!(codes, [&json!("W0003")]);
    c.finish();
}

fn hover_text(c: &mut Client, text: &str, needle: &str, nth: usize, delta: usize) -> String {
    let r = c.at("textDocument/hover", URI, pos(text, needle, nth, delta));
    r["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no hover on `{needle}`: {r}"))
        .to_string()
}

#[test]
fn hover_shows_shapes_rules_signatures_and_dimensions() {
    let (mut c, _) = Client::initialized();
    c.open(URI, MODEL);
    let cases: &[(&str, &str, usize, usize)] = &[
        // (what, needle, occurrence, characters into it)
        ("binding at its use", "y * y", 0, 0),
        ("binding at its declaration", "y = x @ W", 0, 0),
        ("input", "x: [N, D]", 0, 0),
        ("an operator expression", "x @ W\n", 0, 2),
        ("grad at the callee", "grad(L, x)", 0, 1),
        ("jacobian at the callee", "jacobian(y, x)", 0, 3),
        ("binding of a jacobian", "J = ", 0, 0),
        ("layer at its declaration", "Dense[I, O]", 0, 2),
        ("layer at an instance", "Dense[D, M]", 0, 1),
        ("instance at its call", "fc1(x)", 0, 1),
        ("instance call expression", "fc1(x)", 0, 3),
        ("instance parameter member", "fc1.W", 0, 4),
        ("instance in a member", "fc1.W", 0, 0),
        ("dimension with a value", "D, M]", 0, 0),
        ("free dimension", "dim T", 0, 4),
        ("layer dimension parameter", "[I, O]", 1, 1),
        ("generic dimension", "[B, O]", 0, 1),
        ("layer argument", "x @ W + b", 0, 0),
        ("layer parameter", "W + b", 0, 0),
        ("end of a name", "dx =", 0, 2),
    ];
    let mut all = Vec::new();
    for (what, needle, nth, delta) in cases {
        let r = c.at("textDocument/hover", URI, pos(MODEL, needle, *nth, *delta));
        all.push(json!({"case": what, "hover": r}));
    }
    insta::assert_json_snapshot!("hover", all);

    let h = |c: &mut Client, n, k, d| hover_text(c, MODEL, n, k, d);
    assert!(h(&mut c, "y * y", 0, 0).contains("y: [N, M]"));
    assert!(h(&mut c, "x: [N, D]", 0, 0).contains("input x: [N, D]"));
    let jac = h(&mut c, "jacobian(y, x)", 0, 3);
    assert!(jac.contains("jacobian(y, x): [N, M] ++ [N, D]"), "{jac}");
    assert!(jac.contains("jacobian(y, x): [N, M, N, D]"), "{jac}");
    let grad = h(&mut c, "grad(L, x)", 0, 1);
    assert!(grad.contains("grad(L, x): [N, D]"), "{grad}");
    let layer = h(&mut c, "Dense[I, O]", 0, 2);
    assert!(
        layer.contains("layer Dense[I, O](x: [B, I]) -> [B, O]"),
        "{layer}"
    );
    assert!(h(&mut c, "D, M]", 0, 0).contains("dim D = 4096"));
    assert!(h(&mut c, "dim T", 0, 4).contains("free dimension"));
    assert!(h(&mut c, "[B, O]", 0, 1).contains("generic"));
    let member = h(&mut c, "fc1.W", 0, 4);
    assert!(member.contains("fc1.W: [D, M]"), "{member}");
    assert!(member.contains("param W: [I, O]"), "{member}");
    let call = h(&mut c, "fc1(x)", 0, 3);
    assert!(call.contains("fc1(x): [N, M]"), "{call}");
    assert!(
        call.contains("an instance of Dense[I, O](x: [B, I]) -> [B, O]"),
        "{call}"
    );
    let inst = h(&mut c, "fc1(x)", 0, 1);
    assert!(inst.contains("fc1 = Dense[D, M]"), "{inst}");
    assert!(inst.contains("fc1.W: [D, M]"), "{inst}");
    // Innermost expression: inside `x @ W` on `y`'s line, the operator gives
    // the product, the operand gives the operand.
    assert!(h(&mut c, "x @ W\n", 0, 2).contains("x @ W: [N, M]"));
    assert!(h(&mut c, "x @ W\n", 0, 4).contains("param W: [D, M]"));
    // Nothing to say in a comment.
    let r = c.at("textDocument/hover", URI, pos(MODEL, "日本", 0, 0));
    assert_eq!(r, Value::Null);
    c.finish();
}

fn definition_line_col(c: &mut Client, needle: &str, nth: usize, delta: usize) -> Value {
    let r = c.at(
        "textDocument/definition",
        URI,
        pos(MODEL, needle, nth, delta),
    );
    assert_eq!(r["uri"], URI, "{needle}: {r}");
    r["range"]["start"].clone()
}

#[test]
fn definition_goes_to_tensors_dimensions_layers_and_instances() {
    let (mut c, _) = Client::initialized();
    c.open(URI, MODEL);
    let cases: &[(&str, usize, usize, &str, usize)] = &[
        // (use, occurrence, delta) -> (declaration needle, occurrence)
        ("y * y", 0, 0, "y = x @ W", 0),
        ("grad(L, x)", 0, 8, "x: [N, D]", 0),
        ("grad(L, x)", 0, 5, "L = sum", 0),
        ("D, M]", 0, 0, "D = 4096", 0),
        ("Dense[D, M]", 0, 0, "Dense[I, O]", 0),
        ("fc1(x)", 0, 0, "fc1 = Dense", 0),
        ("fc1.W", 0, 0, "fc1 = Dense", 0),
        ("fc1.W", 0, 4, "W: [I, O]", 0),
        ("x @ W + b", 0, 0, "x: [B, I]", 0),
        ("I, O]", 1, 0, "I, O]", 0),
        ("b)", 0, 0, "b: [O]", 0),
        ("W\nh =", 0, 0, "W: [D, M]", 0),
    ];
    let mut all = Vec::new();
    for (needle, nth, delta, target, tnth) in cases {
        let got = definition_line_col(&mut c, needle, *nth, *delta);
        assert_eq!(
            got,
            pos(MODEL, target, *tnth, 0),
            "definition of `{needle}`"
        );
        all.push(json!({"from": needle, "to": got}));
    }
    insta::assert_json_snapshot!("definition", all);
    // Nothing under the cursor: null.
    let r = c.at("textDocument/definition", URI, pos(MODEL, "# ∂L", 0, 3));
    assert_eq!(r, Value::Null);
    c.finish();
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("a list: {items}"))
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn completion_offers_names_in_scope_builtins_keywords_and_members() {
    let (mut c, _) = Client::initialized();
    // The model with a statement being typed at the end.
    let text = format!("{MODEL}z = fc1.\n");
    c.open(URI, &text);
    let members = c.at("textDocument/completion", URI, pos(&text, "fc1.\n", 0, 4));
    assert_eq!(labels(&members), ["W", "b"]);
    insta::assert_json_snapshot!("completion_members", members);

    let text = format!("{MODEL}z = s\n");
    c.change(URI, 2, &text);
    let items = c.at("textDocument/completion", URI, pos(&text, "z = s", 0, 5));
    let names = labels(&items);
    for expected in [
        "N", "D", "T", "Dense", "fc1", "x", "W", "y", "h", "L", "dW1", "sum", "grad", "jacobian",
        "softmax", "dim", "loss",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    // Layer-local names are not in scope at the top level, nor is `z` itself.
    for absent in ["I", "O", "B", "b", "z"] {
        assert!(
            !names.contains(&absent.to_string()),
            "{absent} in {names:?}"
        );
    }
    let scope: Vec<&Value> = items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["sortText"].as_str().unwrap_or("").starts_with('0'))
        .collect();
    insta::assert_json_snapshot!("completion_scope", scope);

    // Inside the layer body: its own names, global dimensions and layers, no
    // top-level tensors.
    let body = c.at("textDocument/completion", URI, pos(&text, "relu(x", 0, 5));
    let names = labels(&body);
    for expected in ["x", "W", "b", "I", "O", "B", "N", "Dense"] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    for absent in ["fc1", "y", "L"] {
        assert!(
            !names.contains(&absent.to_string()),
            "{absent} in {names:?}"
        );
    }
    // After a tensor and a dot: the transpose.
    let text = format!("{MODEL}z = y.\n");
    c.change(URI, 3, &text);
    let t = c.at("textDocument/completion", URI, pos(&text, "y.\n", 0, 2));
    assert_eq!(labels(&t), ["T"]);
    // In a comment: nothing.
    let none = c.at("textDocument/completion", URI, pos(&text, "日本", 0, 1));
    assert_eq!(none, json!([]));
    c.finish();
}

#[test]
fn document_symbols_outline_the_file() {
    let (mut c, _) = Client::initialized();
    c.open(URI, MODEL);
    let r = c.request_ok(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let top = labels_of_symbols(&r);
    assert_eq!(
        top,
        ["N", "D", "M", "T", "Dense", "fc1", "x", "W", "y", "h", "L", "dx", "J", "dW1"]
    );
    let dense = &r[4];
    assert_eq!(
        labels_of_symbols(&dense["children"]),
        ["I", "O", "x", "B", "W", "b"]
    );
    insta::assert_json_snapshot!("document_symbols", r);
    c.finish();
}

/// A derived dimension (`dim Ho = (H - 1) / 2 + 1`): hover on its name shows
/// its canonical formula, what it is computed from and its value with the
/// defaults; types that compute it show the name; the outline gives the formula.
#[test]
fn hover_shows_a_derived_dimension_by_name_and_formula() {
    const CONV: &str = "dim N = 2, H = 9, W = 8, C = 3, O = 4\n\
                        dim Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1\n\
                        input x: [N, H, W, C] = zeros\n\
                        param w: [3, 3, C, O] = zeros\n\
                        y = conv2d(x, w, stride=2, padding=1)\n\
                        input t: [N, Ho, Wo, O] = zeros\n\
                        d = y - t\n";
    let (mut c, _) = Client::initialized();
    let diags = c.open(URI, CONV);
    let errors: Vec<&Value> = diags["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == 1)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let ho = hover_text(&mut c, CONV, "Ho =", 0, 0);
    assert!(ho.contains("dim Ho = (H + 1) / 2"), "{ho}");
    assert!(
        ho.contains("a derived dimension, computed from `H` (5 with the defaults)"),
        "{ho}"
    );
    assert!(ho.contains("`--dim Ho=..` cannot set it"), "{ho}");
    // at a use, the same
    let used = hover_text(&mut c, CONV, "Ho, Wo, O]", 0, 0);
    assert!(used.contains("dim Ho = (H + 1) / 2"), "{used}");
    let y = hover_text(&mut c, CONV, "y = conv2d", 0, 0);
    assert!(y.contains("y: [N, Ho, Wo, O]"), "{y}");
    let r = c.request_ok(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let ho = r
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Ho")
        .unwrap();
    assert_eq!(ho["detail"], "dim = (H + 1) / 2");
    // go to definition from a use
    let def = c.at(
        "textDocument/definition",
        URI,
        pos(CONV, "Ho, Wo, O]", 0, 0),
    );
    assert_eq!(def["range"]["start"]["line"], 1, "{def}");
    c.finish();
}

fn labels_of_symbols(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn malformed_input_gets_errors_and_the_server_keeps_working() {
    let (mut c, _) = Client::initialized();
    c.open(URI, MODEL);
    // Hover with params of the wrong shape: InvalidParams.
    let r = c.request("textDocument/hover", json!({"textDocument": 42}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c.request("textDocument/hover", Value::Null);
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // A position with negative numbers is invalid too.
    let r = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // Unknown methods: MethodNotFound. Unknown notifications are ignored.
    let r = c.request(
        "textDocument/typeDefinition",
        json!({"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(r["error"]["code"], -32601, "{r}");
    c.notify("gradlang/unknownNotification", json!({"x": 1}));
    // A frame that is not JSON at all, and a didChange with garbage params.
    c.send_raw("{this is not json");
    c.notify("textDocument/didChange", json!({"bogus": true}));
    // Unknown documents: null or empty answers, not errors.
    let other = "file:///virtual/never-opened.grad";
    let p = json!({"textDocument": {"uri": other}, "position": {"line": 0, "character": 0}});
    assert_eq!(c.request_ok("textDocument/hover", p.clone()), Value::Null);
    assert_eq!(
        c.request_ok("textDocument/definition", p.clone()),
        Value::Null
    );
    assert_eq!(c.request_ok("textDocument/completion", p), json!([]));
    assert_eq!(
        c.request_ok(
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": other}})
        ),
        json!([])
    );
    // Positions past the end of a line or of the file are clamped.
    let r = c.at(
        "textDocument/hover",
        URI,
        json!({"line": 9999, "character": 9999}),
    );
    assert!(r.is_null() || r.is_object(), "{r}");
    let r = c.at(
        "textDocument/hover",
        URI,
        json!({"line": 1, "character": 9999}),
    );
    assert!(r.is_null() || r.is_object(), "{r}");
    // Documents that are not programs at all.
    for junk in [
        "",
        "}}}}",
        "layer {",
        "((((((((((",
        "dim",
        "\u{0}\u{1}\u{2}",
        "𝜕𝜕𝜕",
    ] {
        let d = c.change(URI, 5, junk);
        assert!(d["diagnostics"].is_array());
        let _ = c.at(
            "textDocument/hover",
            URI,
            json!({"line": 0, "character": 1}),
        );
        let _ = c.at(
            "textDocument/completion",
            URI,
            json!({"line": 0, "character": 1}),
        );
    }
    // Deep nesting is refused by the checker, not by a stack overflow.
    let deep = format!("y = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
    let d = c.change(URI, 6, &deep);
    assert!(!d["diagnostics"].as_array().unwrap().is_empty());
    // Still alive and correct.
    c.change(URI, 7, MODEL);
    assert!(hover_text(&mut c, MODEL, "y * y", 0, 0).contains("y: [N, M]"));
    // The bad frame was reported on stderr (never on stdout, the protocol channel).
    let deadline = Instant::now() + TIMEOUT;
    while !c.stderr.lock().unwrap().contains("malformed") {
        assert!(
            Instant::now() < deadline,
            "no report of the malformed frame"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    c.finish();
}

/// Every malformed header the issue found, then a whole session that must be
/// answered: the server neither dies (1e12 aborted it, 2^64-1 panicked it, 3e9
/// made it allocate 3 GB) nor goes deaf (a malformed header stopped all reading).
#[test]
fn malformed_headers_are_skipped_and_the_session_after_them_is_answered() {
    let mut c = Client::start();
    let body = r#"{"jsonrpc":"2.0","method":"gradlang/ignored","params":{}}"#;
    let malformed: Vec<Vec<u8>> = vec![
        format!("Content-Length: 1000000000000\r\n\r\n{body}").into(),
        format!("Content-Length: 18446744073709551615\r\n\r\n{body}").into(),
        format!("Content-Length: 99999999999999999999999\r\n\r\n{body}").into(),
        format!("Content-Length: 3000000000\r\n\r\n{body}").into(),
        format!("Content-Length: -5\r\n\r\n{body}").into(),
        format!("Content-Length: abc\r\n\r\n{body}").into(),
        format!("Content-Length:\r\n\r\n{body}").into(),
        // LF-only lines: tolerated (the message is read).
        format!("Content-Length: {}\n\n{body}", body.len()).into(),
        // A 9 KiB header line.
        [vec![b'a'; 9 << 10], b"\r\n\r\n".to_vec()].concat(),
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into(),
        // No header at all, then plain garbage and binary bytes: skipped up to
        // the next `Content-Length:`.
        body.as_bytes().to_vec(),
        b"garbage without any structure\r\n\r\n".to_vec(),
        b"\x00\xff\xfe: \x01\r\n\r\n".to_vec(),
        format!("X-Other: 1\r\n\r\n{body}").into(),
    ];
    for frame in &malformed {
        c.send_bytes(frame);
    }
    let result = c.request_ok(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    assert!(result["capabilities"]["hoverProvider"].as_bool().unwrap());
    c.notify("initialized", json!({}));
    let d = c.open(URI, MODEL);
    assert!(d["diagnostics"].is_array());
    assert!(hover_text(&mut c, MODEL, "y * y", 0, 0).contains("y: [N, M]"));
    // Each skipped frame is reported on stderr, with why.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let log = c.stderr.lock().unwrap().clone();
        let found = [
            "Content-Length 1000000000000 is over the limit of 67108864 bytes",
            "Content-Length 18446744073709551615 is over the limit",
            "Content-Length `99999999999999999999999` is not a byte count",
            "Content-Length `-5` is not a byte count",
            "Content-Length `abc` is not a byte count",
            "Content-Length `` is not a byte count",
            "a header without Content-Length",
            "a header line longer than 8192 bytes",
        ]
        .iter()
        .all(|m| log.contains(m));
        if found {
            break;
        }
        assert!(Instant::now() < deadline, "missing reports in:\n{log}");
        std::thread::sleep(Duration::from_millis(10));
    }
    c.finish();
}

#[test]
fn requests_before_initialize_and_after_shutdown_are_refused() {
    let mut c = Client::start();
    let r = c.request("textDocument/hover", json!({}));
    assert_eq!(r["error"]["code"], -32002, "{r}");
    c.request_ok("initialize", json!({"capabilities": {}}));
    c.notify("initialized", json!({}));
    let r = c.request("shutdown", Value::Null);
    assert!(r.get("error").is_none());
    let r = c.request("textDocument/hover", json!({}));
    assert_eq!(r["error"]["code"], -32600, "{r}");
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit().code(), Some(0));
}

#[test]
fn exit_without_shutdown_is_status_1() {
    let (mut c, _) = Client::initialized();
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit().code(), Some(1));
}

/// A 1,000-line program: the time from `didChange` to its diagnostics is
/// printed (run with `--nocapture`); only correctness is asserted.
#[test]
fn change_on_a_thousand_line_file() {
    let mut text = String::from("# ∂L/∂x — 日本\ndim N = 32\ndim D = 64\n");
    text.push_str("input x: [N, D] = normal(0, 1)\nparam W: [D, D] = normal(0, 0.01)\n");
    text.push_str("h0 = x\n");
    let mut k = 0;
    while text.lines().count() < 999 {
        k += 1;
        text.push_str(&format!("h{k} = relu(h{} @ W + 1)  # layer {k}\n", k - 1));
    }
    text.push_str(&format!("loss L = sum(h{k})\n"));
    assert_eq!(text.lines().count(), 1000);
    let (mut c, _) = Client::initialized();
    let first = c.open(URI, &text);
    assert_eq!(first["diagnostics"], json!([]));
    let broken = text.replace("h500 = relu(h499 @ W", "h500 = relu(h499 @ x");
    let mut times = Vec::new();
    for (version, doc) in [(2, &broken), (3, &text), (4, &broken), (5, &text)] {
        let start = Instant::now();
        let d = c.change(URI, version, doc);
        times.push(start.elapsed());
        let n = d["diagnostics"].as_array().unwrap().len();
        assert_eq!(n, if doc == &broken { 1 } else { 0 }, "{d}");
    }
    let best = times.iter().min().unwrap();
    println!("didChange → publishDiagnostics on 1,000 lines: {times:?} (best {best:?})");
    // Hover still works on the big file.
    assert!(hover_text(&mut c, &text, "h500 =", 0, 0).contains("h500: [N, D]"));
    c.finish();
}

/// The reserved words are one list: the pest grammar's `keyword` rule names
/// exactly those.
#[test]
fn pest_grammar_reserves_exactly_the_keywords() {
    let pest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grammar/gradlang.pest"),
    )
    .unwrap();
    let rule: String = pest
        .lines()
        .skip_while(|l| !l.starts_with("keyword"))
        .take_while(|l| !l.starts_with('}'))
        .collect::<Vec<_>>()
        .join(" ");
    let mut quoted: Vec<&str> = rule.split('"').skip(1).step_by(2).collect();
    quoted.sort_unstable();
    let mut keywords = gradlang::syntax::KEYWORDS.to_vec();
    keywords.sort_unstable();
    assert_eq!(quoted, keywords);
}

/// The TextMate grammar highlights every built-in function and keyword, and the
/// extension manifest points at files that exist.
#[test]
fn vscode_extension_is_consistent() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    let read = |p: &str| -> Value {
        let text = std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let manifest = read("package.json");
    let grammar_path = manifest["contributes"]["grammars"][0]["path"]
        .as_str()
        .unwrap();
    let grammar = read(grammar_path);
    let config_path = manifest["contributes"]["languages"][0]["configuration"]
        .as_str()
        .unwrap();
    let config = read(config_path);
    assert_eq!(config["comments"]["lineComment"], "#");
    assert_eq!(
        manifest["contributes"]["languages"][0]["extensions"],
        json!([".grad"])
    );
    assert!(root.join(manifest["main"].as_str().unwrap()).exists());
    let repo = &grammar["repository"];
    let words = |key: &str| -> Vec<String> {
        let pats = match repo[key].get("patterns") {
            Some(p) => p.as_array().unwrap().clone(),
            None => vec![repo[key].clone()],
        };
        pats.iter()
            .flat_map(|p| {
                let m = p["match"].as_str().unwrap_or("");
                m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let functions: Vec<String> = [words("builtin"), words("derivative")].concat();
    for name in gradlang::check::BUILTINS.iter().map(|b| b.name) {
        assert!(
            functions.iter().any(|w| w == name),
            "{name} not highlighted"
        );
    }
    let keywords = words("keyword");
    for kw in gradlang::syntax::KEYWORDS {
        assert!(keywords.iter().any(|w| w == kw), "{kw} not highlighted");
    }
}

/// Issue 8: a name whose binding has an error, and everything computed from it,
/// still hover and jump to their declarations; a half-typed line between two
/// statements is reported alone and keeps the statement before it.
#[test]
fn hover_and_definition_work_through_errors_and_half_typed_lines() {
    const BROKEN: &str = "dim N = 2, D = 3\n\
                          input x: [N, D] = zeros\n\
                          param W: [N, D] = zeros\n\
                          y = x @ W\n\
                          u = y * 2\n\
                          v = u + 1\n";
    let (mut c, _) = Client::initialized();
    let d = c.open(URI, BROKEN);
    let codes: Vec<&Value> = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["code"])
        .collect();
    assert_eq!(codes, [&json!("E0302")], "{d}");
    // `y` has no type, but hover and definition still answer on it and on `u`.
    for (needle, name) in [("y * 2", "y"), ("u + 1", "u"), ("v = ", "v")] {
        let r = c.at("textDocument/hover", URI, pos(BROKEN, needle, 0, 0));
        let text = r["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            text.contains(&format!("{name}: (unknown")),
            "hover on `{needle}`: {r}"
        );
    }
    let r = c.at("textDocument/definition", URI, pos(BROKEN, "y * 2", 0, 0));
    assert_eq!(r["range"]["start"], pos(BROKEN, "y = x", 0, 0), "{r}");
    let r = c.at("textDocument/definition", URI, pos(BROKEN, "u + 1", 0, 0));
    assert_eq!(r["range"]["start"], pos(BROKEN, "u = y", 0, 0), "{r}");

    const HALF_TYPED: &str = "dim N = 2, D = 3\n\
                              input x: [N, D] = zeros\n\
                              param W: [N, D] = zeros\n\
                              y = x @ W.T\n\
                              z\n\
                              u = y * 2\n";
    let d = c.change(URI, 2, HALF_TYPED);
    let diagnostics = d["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{d}");
    assert_eq!(diagnostics[0]["range"]["start"]["line"], 4, "{d}");
    let hover = hover_text(&mut c, HALF_TYPED, "y * 2", 0, 0);
    assert!(hover.contains("y: [N, N]"), "{hover}");
    c.finish();
}

/// The byte offset of an LSP position (0-based line, UTF-16 column), computed
/// here independently of the server.
fn offset_of(text: &str, p: &Value) -> usize {
    let line = p["line"].as_u64().unwrap() as usize;
    let col = p["character"].as_u64().unwrap() as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (i, ch) in text[start..].char_indices() {
        if units >= col || ch == '\n' {
            return start + i;
        }
        units += ch.len_utf16();
    }
    text.len()
}

/// Applies LSP text edits (`[{range, newText}]`) to `text`.
fn apply_edits(text: &str, edits: &[Value]) -> String {
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset_of(text, &e["range"]["start"]),
                offset_of(text, &e["range"]["end"]),
                e["newText"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (start, end, new) in spans {
        out.replace_range(start..end, &new);
    }
    out
}

/// The text a range covers.
fn text_of<'t>(text: &'t str, range: &Value) -> &'t str {
    &text[offset_of(text, &range["start"])..offset_of(text, &range["end"])]
}

fn whole(text: &str) -> Value {
    json!({"start": {"line": 0, "character": 0}, "end": {"line": text.lines().count() + 1, "character": 0}})
}

#[test]
fn inlay_hints_show_binding_shapes_unless_a_comment_says_them() {
    let (mut c, _) = Client::initialized();
    let text = MODEL.replace("y = x @ W\n", "y = x @ W  # : [N, M]\n");
    c.open(URI, &text);
    let hints = c.request_ok(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": URI}, "range": whole(&text)}),
    );
    // Each hint as the line would read with it shown.
    let lines: Vec<&str> = text.lines().collect();
    let shown: Vec<String> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let p = &h["position"];
            let line = lines[p["line"].as_u64().unwrap() as usize];
            let at = offset_of(line, &json!({"line": 0, "character": p["character"]}));
            format!(
                "{}{}{}",
                &line[..at],
                h["label"].as_str().unwrap(),
                &line[at..]
            )
        })
        .collect();
    insta::assert_json_snapshot!("inlay_hints", shown);
    assert!(
        shown.contains(&"h: [N, M] = fc1(x)".to_string()),
        "{shown:?}"
    );
    assert!(shown.iter().all(|l| !l.starts_with("y")), "{shown:?}");
    // Only the requested lines.
    let one = c.request_ok(
        "textDocument/inlayHint",
        json!({"textDocument": {"uri": URI}, "range": {
            "start": pos(&text, "h = fc1", 0, 0), "end": pos(&text, "h = fc1", 0, 3)}}),
    );
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["label"], ": [N, M]");
    assert_eq!(hints[0]["kind"], 1, "a type hint");
    c.finish();
}

/// One mistake per fix the help names.
const FIXABLE: &str = "\
dim N = 4, D = 3, C = 10
layer Dense[I, O](x: [B, I]) -> [B, O] {
  param W: [I, O] = zeros
  return x @ W
}
fc1 = Dense[D, N]
input x: [N, D] = zeros
param W: [N, D] = zeros
input t: [N, 10] = zeros
y = x @ W
r = relux(x)
w = fc1.Ww
s = sum(x, axs=0)
u = t + zeros([N, C])
";

#[test]
fn code_actions_apply_the_fixes_the_help_names() {
    let (mut c, _) = Client::initialized();
    let published = c.open(URI, FIXABLE);
    let diagnostics = published["diagnostics"].as_array().unwrap().clone();
    let codes: Vec<&str> = diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["W0004", "E0302", "E0201", "E0205", "E0206", "E0301"],
        "{published:#}"
    );
    let mut all = Vec::new();
    let mut edits = Vec::new();
    for d in &diagnostics {
        let actions = c.request_ok(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": URI}, "range": d["range"],
                   "context": {"diagnostics": [d]}}),
        );
        let actions = actions.as_array().unwrap();
        assert!(!actions.is_empty(), "no fix for {d}");
        for a in actions {
            assert_eq!(a["kind"], "quickfix");
            assert_eq!(a["diagnostics"][0]["code"], d["code"]);
            let e = a["edit"]["changes"][URI].as_array().unwrap();
            assert_eq!(e.len(), 1);
            all.push(json!({
                "code": d["code"],
                "title": a["title"],
                "replaces": text_of(FIXABLE, &e[0]["range"]),
                "with": e[0]["newText"],
            }));
            if d["code"] != "E0301" {
                edits.push(e[0].clone());
            }
        }
    }
    insta::assert_json_snapshot!("code_actions", all);
    // Every fix applied: the program checks.
    let fixed = apply_edits(FIXABLE, &edits);
    let after = c.change(URI, 2, &fixed);
    assert_eq!(after["diagnostics"], json!([]), "{fixed}\n{after:#}");
    assert!(fixed.contains("y = x @ W.T\n"), "{fixed}");
    // Nothing to fix on a clean line.
    let none = c.request_ok(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": whole(&fixed), "context": {"diagnostics": []}}),
    );
    assert_eq!(none, json!([]));
    c.finish();
}

#[test]
fn references_highlight_and_rename_follow_the_checker() {
    let (mut c, _) = Client::initialized();
    c.open(URI, MODEL);
    let refs = |c: &mut Client, needle: &str, delta: usize, decl: bool| -> Vec<String> {
        let r = c.request_ok(
            "textDocument/references",
            json!({"textDocument": {"uri": URI}, "position": pos(MODEL, needle, 0, delta),
                   "context": {"includeDeclaration": decl}}),
        );
        r.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let s = &l["range"]["start"];
                format!(
                    "{}:{} {}",
                    s["line"],
                    s["character"],
                    text_of(MODEL, &l["range"])
                )
            })
            .collect()
    };
    let mut all = serde_json::Map::new();
    all.insert("y".into(), json!(refs(&mut c, "y * y", 0, true)));
    all.insert(
        "y without the declaration".into(),
        json!(refs(&mut c, "y * y", 0, false)),
    );
    all.insert(
        "layer param W (from fc1.W)".into(),
        json!(refs(&mut c, "fc1.W", 4, true)),
    );
    all.insert(
        "top-level W".into(),
        json!(refs(&mut c, "x @ W\n", 4, true)),
    );
    all.insert("dimension D".into(), json!(refs(&mut c, "dim D", 4, true)));
    all.insert("fc1".into(), json!(refs(&mut c, "fc1(x)", 0, true)));
    insta::assert_json_snapshot!("references", all);
    assert_eq!(refs(&mut c, "y * y", 0, true).len(), 4);

    // `fc1.W` (the W) and the layer body's `W` are the same declaration.
    let hl = c.at(
        "textDocument/documentHighlight",
        URI,
        pos(MODEL, "fc1.W", 0, 4),
    );
    let kinds: Vec<(String, i64)> = hl
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                format!("{}", h["range"]["start"]["line"]),
                h["kind"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("7".to_string(), 3),
            ("9".to_string(), 2),
            ("20".to_string(), 2)
        ],
        "{hl}"
    );

    // Rename the layer's `W` from a use as `fc1.W`: the layer body and the member
    // change, the top-level `param W` does not.
    let rename = |c: &mut Client, needle: &str, new_name: &str| {
        c.request(
            "textDocument/rename",
            json!({"textDocument": {"uri": URI}, "position": pos(MODEL, needle, 0, 0), "newName": new_name}),
        )
    };
    let r = rename(&mut c, "= grad", "Wt");
    assert!(r.get("error").is_some(), "`=` is no name: {r}");
    let prep = c.request_ok(
        "textDocument/prepareRename",
        json!({"textDocument": {"uri": URI}, "position": pos(MODEL, "fc1.W", 0, 4)}),
    );
    assert_eq!(prep["placeholder"], "W");
    let r = c.request_ok(
        "textDocument/rename",
        json!({"textDocument": {"uri": URI}, "position": pos(MODEL, "fc1.W", 0, 4), "newName": "Wt"}),
    );
    let edits = r["changes"][URI].as_array().unwrap().clone();
    let renamed = apply_edits(MODEL, &edits);
    insta::assert_snapshot!("rename_layer_param", renamed);
    assert!(renamed.contains("param Wt: [I, O]") && renamed.contains("x @ Wt + b"));
    assert!(renamed.contains("grad(L, fc1.Wt)") && renamed.contains("param W: [D, M]"));
    let after = c.change(URI, 2, &renamed);
    let codes: Vec<&Value> = after["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["code"])
        .collect();
    assert_eq!(codes, [&json!("W0003")], "{after}");
    c.change(URI, 3, MODEL);

    // Refusals, each with a reason.
    let mut refusals = Vec::new();
    for (needle, new_name) in [
        ("y * y", "sum"),
        ("y * y", "loss"),
        ("y * y", "2y"),
        ("y * y", "h"),
        ("D, M]", "N"),
        ("relu(", "rectify"),
        ("loss L", "cost"),
    ] {
        let r = rename(&mut c, needle, new_name);
        let message = r["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{needle} → {new_name}: {r}"));
        refusals.push(format!("{needle} → {new_name}: {message}"));
    }
    insta::assert_json_snapshot!("rename_refusals", refusals);
    let ok = rename(&mut c, "y * y", "out");
    assert_eq!(
        ok["result"]["changes"][URI].as_array().unwrap().len(),
        4,
        "{ok}"
    );
    c.finish();
}

#[test]
fn signature_help_for_builtins_and_layer_calls() {
    let (mut c, _) = Client::initialized();
    let mut all = Vec::new();
    for (version, line) in [
        (1, "z = sum(y, "),
        (2, "z = sum("),
        (3, "z = sum(y, keepdims="),
        (4, "z = softmax(y * 2, axis=0, "),
        (5, "z = fc1("),
        (6, "fc2 = Dense[D, "),
        (7, "z = relu(sum(y, axis=0"),
    ] {
        let text = format!("{MODEL}{line}\n");
        if version == 1 {
            c.open(URI, &text);
        } else {
            c.change(URI, version, &text);
        }
        let p = pos(&text, line, 0, line.len());
        let r = c.at("textDocument/signatureHelp", URI, p);
        let sig = &r["signatures"][r["activeSignature"].as_u64().unwrap() as usize];
        let label = sig["label"].as_str().unwrap();
        let active = &sig["parameters"][r["activeParameter"].as_u64().unwrap() as usize]["label"];
        let (a, b) = (
            active[0].as_u64().unwrap() as usize,
            active[1].as_u64().unwrap() as usize,
        );
        all.push(json!({
            "typed": line,
            "signature": label,
            "active": &label[a..b],
            "documentation": sig["documentation"],
        }));
    }
    insta::assert_json_snapshot!("signature_help", all);
    // Outside any call: nothing.
    let r = c.at("textDocument/signatureHelp", URI, pos(MODEL, "dim N", 0, 2));
    assert_eq!(r, Value::Null);
    c.finish();
}

/// Decodes semantic tokens into readable lines: `line:col text type [mods]`.
fn decode_tokens(text: &str, data: &[Value], legend: &Value) -> Vec<String> {
    let types = legend["tokenTypes"].as_array().unwrap();
    let mods = legend["tokenModifiers"].as_array().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut line, mut col) = (0u64, 0u64);
    let mut out = Vec::new();
    for t in data.chunks(5) {
        let n: Vec<u64> = t.iter().map(|v| v.as_u64().unwrap()).collect();
        if n[0] > 0 {
            col = 0;
        }
        line += n[0];
        col += n[1];
        let l = lines[line as usize];
        let start = offset_of(l, &json!({"line": 0, "character": col}));
        let end = offset_of(l, &json!({"line": 0, "character": col + n[2]}));
        let m: Vec<&str> = (0..mods.len())
            .filter(|k| n[4] & (1 << k) != 0)
            .map(|k| mods[k].as_str().unwrap())
            .collect();
        out.push(format!(
            "{line}:{col} {} {}{}",
            &l[start..end],
            types[n[3] as usize].as_str().unwrap(),
            if m.is_empty() {
                String::new()
            } else {
                format!(" {m:?}")
            }
        ));
    }
    out
}

#[test]
fn semantic_tokens_full_and_delta() {
    let (mut c, init) = Client::initialized();
    let legend = init["capabilities"]["semanticTokensProvider"]["legend"].clone();
    c.open(URI, MODEL);
    let full = c.request_ok(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    let data = full["data"].as_array().unwrap().clone();
    let decoded = decode_tokens(MODEL, &data, &legend);
    insta::assert_json_snapshot!("semantic_tokens", decoded);
    for expected in [
        "0:0 # ∂L/∂x — 日本: a linear map and a layer comment",
        "1:0 dim keyword",
        "1:4 N typeParameter [\"declaration\"]",
        "1:8 64 number",
        "9:9 relu function [\"defaultLibrary\"]",
        "20:18 W property [\"param\"]",
    ] {
        assert!(
            decoded.contains(&expected.to_string()),
            "{expected} in {decoded:#?}"
        );
    }
    // A change, then a delta against the first answer: applying its edits to
    // the old data gives the new full data.
    let text = MODEL.replace("y = x @ W\n", "y = x @ W\ny2 = y * 2\n");
    c.change(URI, 2, &text);
    let delta = c.request_ok(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": {"uri": URI}, "previousResultId": full["resultId"]}),
    );
    let edits = delta["edits"]
        .as_array()
        .expect("edits, not full data")
        .clone();
    assert_eq!(edits.len(), 1, "{delta}");
    let mut patched: Vec<Value> = data.clone();
    for e in edits.iter().rev() {
        let start = e["start"].as_u64().unwrap() as usize;
        let count = e["deleteCount"].as_u64().unwrap() as usize;
        let new = e["data"].as_array().cloned().unwrap_or_default();
        patched.splice(start..start + count, new);
    }
    assert!(
        edits[0]["data"].as_array().unwrap().len() < data.len() / 2,
        "a small edit: {delta}"
    );
    let full2 = c.request_ok(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    assert_eq!(json!(patched), full2["data"]);
    assert!(decode_tokens(&text, &patched, &legend)
        .contains(&"16:0 y2 variable [\"declaration\"]".to_string()));
    // An unknown previous id gets full data.
    let again = c.request_ok(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": {"uri": URI}, "previousResultId": "nope"}),
    );
    assert_eq!(again["data"], full2["data"]);
    c.finish();
}

#[test]
fn hover_is_plaintext_for_clients_that_ask_for_it() {
    // Emacs' eglot lists plaintext first.
    let mut c = Client::initialized_with(
        json!({"textDocument": {"hover": {"contentFormat": ["plaintext", "markdown"]}}}),
    );
    c.open(URI, MODEL);
    let r = c.at("textDocument/hover", URI, pos(MODEL, "fc1(x)", 0, 1));
    assert_eq!(r["contents"]["kind"], "plaintext", "{r}");
    let text = r["contents"]["value"].as_str().unwrap();
    assert!(!text.contains("```") && !text.contains('`'), "{text}");
    insta::assert_snapshot!("hover_plaintext", text);
    c.finish();
    // VS Code lists markdown first.
    let mut c = Client::initialized_with(
        json!({"textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]}}}),
    );
    c.open(URI, MODEL);
    let r = c.at("textDocument/hover", URI, pos(MODEL, "fc1(x)", 0, 1));
    assert_eq!(r["contents"]["kind"], "markdown", "{r}");
    c.finish();
}

#[test]
fn completion_by_context() {
    let (mut c, _) = Client::initialized();
    let mut all = serde_json::Map::new();
    for (version, line) in [
        (1, "z = fc1.W."),
        (2, "input z: [N, "),
        (3, "z = reshape(y, [N, "),
        (4, "dim "),
        (5, "dim K = 3, "),
        (6, "input "),
        (7, "z = sum(y, "),
        (8, "z = sum(y, axis=0, "),
        (9, "fc2 = Dense["),
    ] {
        let text = format!("{MODEL}{line}\n");
        if version == 1 {
            c.open(URI, &text);
        } else {
            c.change(URI, version, &text);
        }
        let items = c.at(
            "textDocument/completion",
            URI,
            pos(&text, line, 0, line.len()),
        );
        all.insert(line.to_string(), json!(labels(&items)));
    }
    insta::assert_json_snapshot!("completion_by_context", all);
    assert_eq!(all["z = fc1.W."], json!(["T"]));
    assert_eq!(all["input z: [N, "], json!(["N", "D", "M", "T"]));
    assert_eq!(all["dim "], json!([]));
    assert_eq!(all["z = sum(y, "], json!(["axis=", "keepdims="]));
    assert_eq!(all["z = sum(y, axis=0, "], json!(["keepdims="]));
    // In a positional argument, names in scope as usual.
    let text = format!("{MODEL}z = sum(\n");
    c.change(URI, 10, &text);
    let items = c.at("textDocument/completion", URI, pos(&text, "z = sum(", 0, 8));
    assert!(labels(&items).contains(&"y".to_string()));
    c.finish();
}

#[test]
fn diagnostic_messages_carry_the_operand_shapes() {
    let (mut c, _) = Client::initialized();
    let published = c.open(URI, BROKEN);
    let message = published["diagnostics"][0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "cannot multiply [N, D] by [N, D]: the inner dimensions D and N differ \
         (`x` is [N, D]; `W` is [N, D])\nhelp: did you mean `W.T`? `x @ W.T` has shape [N, N]"
    );
    // Related information is still sent, for clients that show it.
    assert!(
        published["diagnostics"][0]["relatedInformation"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    c.finish();
}

/// A 10,000-line program: checking runs off the message loop, a burst of
/// changes collapses into one check of the last text, a hover right after the
/// burst is answered from that check without waiting for stale ones, and only
/// the last version's diagnostics are published.
#[test]
fn a_burst_of_changes_on_ten_thousand_lines_checks_only_the_last() {
    let mut text = String::from("dim N = 32\ndim D = 64\n");
    text.push_str("input x: [N, D] = normal(0, 1)\nparam W: [D, D] = normal(0, 0.01)\n");
    text.push_str("h0 = x\n");
    let mut k = 0;
    while text.lines().count() < 9_999 {
        k += 1;
        text.push_str(&format!("h{k} = relu(h{} @ W + 1)  # layer {k}\n", k - 1));
    }
    text.push_str(&format!("loss L = sum(h{k})\n"));
    assert_eq!(text.lines().count(), 10_000);
    let (mut c, _) = Client::initialized();
    let start = Instant::now();
    let first = c.open(URI, &text);
    let one_check = start.elapsed();
    assert_eq!(first["diagnostics"], json!([]));
    assert_eq!(first["version"], 1);

    // 20 keystrokes' worth of changes, sent in one write without waiting;
    // the last one breaks line 5001.
    let broken = text.replace("h5000 = relu(h4999 @ W", "h5000 = relu(h4999 @ x");
    let start = Instant::now();
    let mut burst = String::new();
    for version in 2..=21 {
        let doc = if version % 2 == 0 || version == 21 {
            &broken
        } else {
            &text
        };
        let body = json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params":
            {"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": doc}]}})
        .to_string();
        burst.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    }
    {
        let stdin = c.stdin.as_mut().expect("stdin open");
        stdin.write_all(burst.as_bytes()).expect("write");
        stdin.flush().expect("flush");
    }
    let sent = start.elapsed();
    let hover = hover_text(&mut c, &broken, "h5000 =", 0, 0);
    let answered = start.elapsed();
    assert!(
        hover.contains("h5000: (unknown"),
        "the hover answers on the last text: {hover}"
    );
    let last = c.diagnostics(URI);
    assert_eq!(last["version"], 21, "{last}");
    assert_eq!(last["diagnostics"].as_array().unwrap().len(), 1);
    // No other version was published, before or after.
    std::thread::sleep(one_check.min(Duration::from_secs(2)));
    let hover2 = c.at("textDocument/hover", URI, pos(&broken, "h1 =", 0, 0));
    assert!(hover2["contents"]["value"]
        .as_str()
        .unwrap()
        .contains("h1: [N, D]"));
    let stale: Vec<&Value> = c
        .pending
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .collect();
    assert!(stale.is_empty(), "stale diagnostics published: {stale:?}");
    println!(
        "10,000 lines: one check (didOpen → diagnostics) {one_check:?}; 20 changes sent in \
         {sent:?}; hover answered {answered:?} after the first change"
    );
    // Synchronous checking would take 20 checks; at most the running stale
    // check and the last one (with generous slack for a loaded machine).
    assert!(
        answered < one_check * 6 + Duration::from_secs(1),
        "hover after {answered:?}, one check takes {one_check:?}"
    );
    c.finish();
}

/// A change of the document being checked cancels that check: the parser and
/// the checker stop at their next statement and the stale text's diagnostics
/// are never published. Seen from outside through `$/logTrace`, which the
/// server sends for every check once `trace` is on (and no more once it is off).
#[test]
fn a_change_cancels_the_running_check_of_the_older_text() {
    // 50,000 lines: a check long enough (a few hundred ms) that a change sent
    // as soon as it starts arrives while it runs.
    let mut text = String::from(
        "dim N = 8, D = 16
input x: [N, D] = zeros
param W: [D, D] = zeros
h0 = x
",
    );
    let k = 49_995;
    for k in 1..=k {
        text.push_str(&format!("h{k} = tanh(h{} @ W)\n", k - 1));
    }
    text.push_str(&format!("loss L = sum(h{k})\n"));
    assert_eq!(text.lines().count(), 50_000);
    let mut c = Client::start();
    c.request_ok(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}, "trace": "messages"}),
    );
    c.notify("initialized", json!({}));
    let trace = |c: &mut Client, needle: String| {
        c.wait_for(move |m| {
            m["method"] == "$/logTrace"
                && m["params"]["message"].as_str().unwrap().contains(&needle)
        })["params"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "gradlang", "version": 1, "text": text}}),
    );
    // Each round changes the text as soon as the check of the previous
    // version starts; a round whose check finished first (a stalled test
    // thread) is retried with the next version.
    let mut cancelled = None;
    for version in 1..=5 {
        trace(&mut c, format!("checking {URI} (version {version})"));
        let edited = text.replace("h7 = tanh", &format!("h7 = {version} * tanh"));
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version + 1},
                   "contentChanges": [{"text": edited}]}),
        );
        let outcome = trace(&mut c, format!("{URI} (version {version})"));
        if outcome.contains("cancelled") {
            assert_eq!(
                outcome,
                format!("check of {URI} (version {version}) cancelled: the document changed")
            );
            cancelled = Some(version);
            break;
        }
    }
    let cancelled = cancelled.expect("no check was cancelled in five rounds");
    let last = c.diagnostics(URI);
    assert_eq!(last["version"], cancelled + 1, "{last}");
    assert!(c
        .pending
        .iter()
        .all(|m| m["params"]["version"] != json!(cancelled)));
    let done = trace(&mut c, format!("checked {URI} (version {})", cancelled + 1));
    assert!(done.ends_with(" ms"), "{done}");
    println!("{done}");
    // With trace off, checks are silent again.
    c.notify("$/setTrace", json!({"value": "off"}));
    let last = c.change(
        URI,
        100,
        "dim N = 2\ninput x: [N] = zeros\nloss L = sum(x)\n",
    );
    assert_eq!(last["version"], 100);
    let hover = c.at(
        "textDocument/hover",
        URI,
        json!({"line": 2, "character": 5}),
    );
    assert!(hover.to_string().contains("L"), "{hover}");
    assert!(
        !c.pending.iter().any(|m| m["method"] == "$/logTrace"
            && m["params"]["message"]
                .as_str()
                .unwrap()
                .contains("version 100")),
        "{:?}",
        c.pending
    );
    c.finish();
}

#[test]
fn formatting_is_gradlang_fmt() {
    let (mut c, _) = Client::initialized();
    let messy = "# a model\ndim N=4,D = 3\ninput x:[N,D]=zeros\nparam W : [D,D] = zeros   # weights\n\n\n\ny=relu(x@W)\nloss L=sum( y )\n";
    c.open(URI, messy);
    let format = |c: &mut Client| {
        c.request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
        )
    };
    let r = format(&mut c);
    let edits = r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .clone();
    assert_eq!(edits.len(), 1, "{r}");
    // The first line is unchanged, so the edit starts below it.
    assert_eq!(
        edits[0]["range"]["start"],
        json!({"line": 1, "character": 0})
    );
    let formatted = apply_edits(messy, &edits);
    assert_eq!(formatted, gradlang::fmt::format_source(messy).unwrap());
    insta::assert_snapshot!("formatting", formatted);
    // Formatted text: nothing to do.
    c.change(URI, 2, &formatted);
    assert_eq!(format(&mut c)["result"], json!([]));
    // Syntax errors: refused with the error, the text left alone.
    c.change(URI, 3, "dim N = 4\ny = = 2\n");
    let r = format(&mut c);
    let message = r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(message.starts_with("not formatted: line 2:"), "{message}");
    c.finish();
}
