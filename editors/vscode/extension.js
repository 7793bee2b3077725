// Starts `gradlang lsp` (stdio) for .grad files. The server does all the work:
// diagnostics, hover, go to definition, completion, outline.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command =
    vscode.workspace.getConfiguration("gradlang").get("server.path") || "gradlang";
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "gradlang" },
      { scheme: "untitled", language: "gradlang" },
    ],
  };
  client = new LanguageClient("gradlang", "gradlang", serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `gradlang: could not start \`${command} lsp\`: ${err.message}. ` +
        "Set gradlang.server.path to the gradlang executable."
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
