//! The language server's framing and message handling.
//!
//! First byte even: the rest is a raw byte stream for the frame reader, whose
//! messages are then served. Odd: a structured session (initialize, open the
//! rest as a document, hover/definition/completion/symbols at positions taken
//! from the text, an edit, shutdown, exit). libFuzzer's panic hook aborts on any
//! panic, even one the server would catch and answer with InternalError.
#![no_main]
use gradlang::lsp::transport::{Frame, FrameReader};
use libfuzzer_sys::fuzz_target;
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::json;

fn serve(messages: Vec<Message>) {
    let (server, client) = Connection::memory();
    for m in messages {
        let _ = client.sender.send(m);
    }
    let _ = client
        .sender
        .send(Message::Notification(Notification::new("exit".into(), json!(null))));
    gradlang::lsp::server::serve(&server);
    drop(server);
    while client.receiver.try_recv().is_ok() {}
}

fn request(id: i32, method: &str, params: serde_json::Value) -> Message {
    Message::Request(Request::new(RequestId::from(id), method.into(), params))
}

fn notify(method: &str, params: serde_json::Value) -> Message {
    Message::Notification(Notification::new(method.into(), params))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let mut reader = FrameReader::new(rest);
        let mut messages = Vec::new();
        // Every call consumes input or ends: the loop is bounded by the input.
        for _ in 0..=rest.len() + 1 {
            match reader.next_frame() {
                Ok(Frame::Message(m)) => messages.push(m),
                Ok(Frame::Malformed(_)) => {}
                Ok(Frame::End) | Err(_) => break,
            }
        }
        serve(messages);
        return;
    }
    let text = String::from_utf8_lossy(rest).into_owned();
    let uri = "file:///f.grad";
    let mut messages = vec![
        request(1, "initialize", json!({"capabilities": {}})),
        notify("initialized", json!({})),
        notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "gradlang", "version": 1, "text": text}}),
        ),
    ];
    let lines = text.lines().count() as u32 + 1;
    for (k, b) in rest.iter().take(8).enumerate() {
        let position = json!({"line": u32::from(*b) % lines, "character": u32::from(mode.wrapping_mul(*b)) % 40});
        let params = json!({"textDocument": {"uri": uri}, "position": position});
        let method = ["textDocument/hover", "textDocument/definition", "textDocument/completion"][k % 3];
        messages.push(request(10 + k as i32, method, params));
    }
    messages.push(request(
        30,
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    ));
    let edited: String = text.chars().rev().collect();
    messages.push(notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": edited}]}),
    ));
    messages.push(request(
        31,
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}}),
    ));
    messages.push(request(32, "shutdown", json!(null)));
    serve(messages);
});
