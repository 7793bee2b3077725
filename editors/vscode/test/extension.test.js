// The extension's start-up, with VS Code and the language client replaced by
// fakes: a wrong server path gives a message that says what was tried and how to
// fix it, and the restart command starts a new client.
const assert = require("node:assert");
const Module = require("node:module");
const os = require("node:os");
const path = require("node:path");
const fs = require("node:fs");
const test = require("node:test");

function loadExtension(serverPath) {
  const state = { errors: [], commands: {}, clients: [], stopped: 0, openedSettings: [] };
  const vscode = {
    workspace: {
      getConfiguration: () => ({ get: () => serverPath }),
      workspaceFolders: undefined,
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    window: {
      showErrorMessage: async (msg, ...items) => {
        state.errors.push(msg);
        return items[0];
      },
    },
    commands: {
      registerCommand: (name, fn) => {
        state.commands[name] = fn;
        return { dispose() {} };
      },
      executeCommand: async (name, arg) => state.openedSettings.push([name, arg]),
    },
  };
  class LanguageClient {
    constructor(id, name, serverOptions) {
      this.serverOptions = serverOptions;
      state.clients.push(this);
    }
    async start() {}
    async stop() {
      state.stopped += 1;
    }
  }
  const original = Module._load;
  Module._load = function (request, ...rest) {
    if (request === "vscode") return vscode;
    if (request === "vscode-languageclient/node") return { LanguageClient };
    return original.call(this, request, ...rest);
  };
  const file = require.resolve("../extension.js");
  delete require.cache[file];
  try {
    return { ext: require(file), state };
  } finally {
    Module._load = original;
  }
}

test("a server path that does not exist is reported with the path and the setting", async () => {
  const missing = path.join(os.tmpdir(), "no-such-dir", "gradlang");
  const { ext, state } = loadExtension(missing);
  await ext.activate({ subscriptions: [] });
  assert.strictEqual(state.clients.length, 0);
  assert.strictEqual(state.errors.length, 1);
  const msg = state.errors[0];
  assert.ok(!msg.includes("undefined"), msg);
  assert.ok(msg.includes(`there is no file \`${missing}\``), msg);
  assert.ok(msg.includes('"gradlang.server.path"'), msg);
  assert.deepStrictEqual(state.openedSettings, [
    ["workbench.action.openSettings", "gradlang.server.path"],
  ]);
});

test("a bare name not on PATH says which directories were searched", async () => {
  const { ext, state } = loadExtension("gradlang-not-installed-anywhere");
  await ext.activate({ subscriptions: [] });
  assert.match(state.errors[0], /`gradlang-not-installed-anywhere` is not on PATH \(searched \d+ directories/);
});

test("an existing server starts, and gradlang.restartServer starts a new client", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gradlang-ext-"));
  const server = path.join(dir, "gradlang");
  fs.writeFileSync(server, "#!/bin/sh\n", { mode: 0o755 });
  const { ext, state } = loadExtension(server);
  await ext.activate({ subscriptions: [] });
  assert.deepStrictEqual(state.errors, []);
  assert.strictEqual(state.clients.length, 1);
  assert.deepStrictEqual(state.clients[0].serverOptions, { command: server, args: ["lsp"] });
  await state.commands["gradlang.restartServer"]();
  assert.strictEqual(state.stopped, 1);
  assert.strictEqual(state.clients.length, 2);
  await ext.deactivate();
  assert.strictEqual(state.stopped, 2);
});

test("a start that rejects with nothing still gives a readable reason", () => {
  const { ext } = loadExtension("gradlang");
  assert.strictEqual(ext.describe(undefined), "the server exited before it answered");
  assert.strictEqual(ext.describe(new Error("spawn EACCES")), "spawn EACCES");
  assert.strictEqual(ext.describe({ code: "ENOENT" }), "ENOENT");
});
