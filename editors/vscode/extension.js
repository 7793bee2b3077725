// Starts `gradlang lsp` (stdio) for .grad files. The server does all the work:
// diagnostics, hover, go to definition, completion, outline.
const fs = require("fs");
const path = require("path");
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

const SETTING = "gradlang.server.path";

let client;

// Where `command` resolves, as the server process would be spawned: a path (with
// a separator) is taken as it is (relative to the first workspace folder), a bare
// name is looked up on PATH. Returns { file } or { error } with what was tried.
function resolveServer(command, env = process.env, cwd = undefined) {
  const isFile = (p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const exts =
    process.platform === "win32"
      ? ["", ...(env.PATHEXT || ".EXE;.CMD;.BAT").split(";")]
      : [""];
  if (command.includes("/") || command.includes("\\")) {
    const full = path.resolve(cwd || process.cwd(), command);
    const found = exts.map((e) => full + e).find(isFile);
    return found ? { file: found } : { error: `there is no file \`${full}\`` };
  }
  const dirs = (env.PATH || env.Path || "").split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const found = exts.map((e) => path.join(dir, command + e)).find(isFile);
    if (found) return { file: found };
  }
  return {
    error: `\`${command}\` is not on PATH (searched ${dirs.length} directories: ${dirs.join(
      path.delimiter
    )})`,
  };
}

// The text of whatever a failed start rejected with (an Error, a string, or
// nothing at all: vscode-languageclient may reject with undefined).
function describe(err) {
  if (err === undefined || err === null) return "the server exited before it answered";
  if (typeof err === "string") return err;
  return err.message || err.code || String(err);
}

async function showStartError(command, detail) {
  const choice = await vscode.window.showErrorMessage(
    `gradlang: could not start the language server \`${command} lsp\`: ${detail}. ` +
      `Set "${SETTING}" to the gradlang executable (build it with \`cargo build --release\`: ` +
      "target/release/gradlang), then run \"gradlang: Restart Language Server\".",
    "Open Settings"
  );
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", SETTING);
  }
}

async function startClient() {
  const command =
    vscode.workspace.getConfiguration("gradlang").get("server.path") || "gradlang";
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  const resolved = resolveServer(command, process.env, folder && folder.uri.fsPath);
  if (resolved.error) {
    await showStartError(command, resolved.error);
    return;
  }
  const serverOptions = { command: resolved.file, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "gradlang" },
      { scheme: "untitled", language: "gradlang" },
    ],
  };
  client = new LanguageClient("gradlang", "gradlang", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    await showStartError(resolved.file, describe(err));
  }
}

async function stopClient() {
  const old = client;
  client = undefined;
  if (old) {
    try {
      await old.stop();
    } catch {
      // A server that never started or already died has nothing to stop.
    }
  }
}

async function restartClient() {
  await stopClient();
  await startClient();
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("gradlang.restartServer", restartClient),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SETTING)) restartClient();
    })
  );
  return startClient();
}

function deactivate() {
  return stopClient();
}

module.exports = { activate, deactivate, resolveServer, describe };
