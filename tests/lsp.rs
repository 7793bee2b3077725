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
fn initialize_advertises_features_but_not_formatting() {
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
    assert!(caps.get("documentFormattingProvider").is_none());
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
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}}),
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

#[test]
fn every_builtin_has_a_completion_signature() {
    for name in gradlang::check::BUILTIN_NAMES {
        assert_ne!(
            gradlang::lsp::completion::builtin_signature(name),
            "built-in function",
            "{name}"
        );
    }
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
    for name in gradlang::check::BUILTIN_NAMES {
        assert!(
            functions.iter().any(|w| w == name),
            "{name} not highlighted"
        );
    }
    let keywords = words("keyword");
    for kw in gradlang::lsp::completion::KEYWORDS {
        assert!(keywords.iter().any(|w| w == kw), "{kw} not highlighted");
    }
}
