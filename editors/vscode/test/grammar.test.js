// The TextMate grammar, tokenized by VS Code's own engine (vscode-textmate with
// the Oniguruma regular expressions it uses): `npm test` in editors/vscode.
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const test = require("node:test");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const grammarPath = path.join(__dirname, "..", "syntaxes", "gradlang.tmLanguage.json");

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () =>
      vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  return registry.loadGrammar("source.gradlang");
}

// The innermost scope of every token of `text`, as [token text, scope] pairs.
function tokenize(grammar, text) {
  let stack = vsctm.INITIAL;
  const out = [];
  for (const line of text.split("\n")) {
    const r = grammar.tokenizeLine(line, stack);
    for (const t of r.tokens) {
      const s = line.substring(t.startIndex, t.endIndex).trim();
      if (s) out.push([s, t.scopes[t.scopes.length - 1].replace(/\.gradlang$/, "")]);
    }
    stack = r.ruleStack;
  }
  return out;
}

const SAMPLE = `dim N = 64, Ho = (H - 3) / 2 + 1   # dims
input x: [N, H * W] int = zeros
layer Dense[I, O](x: [B, I], m: [B] bool) -> [B, O] {
  return relu(x @ W)
}
fc1 = Dense[D, 512]
fc2 = Dense[I=512, O=C]
y = fc2(fc1(x)) @ fc1.W.T + q @ k.mT
mask = x[1:, ::2] <= 0.5
metric acc = accuracy(logits, labels)
train(L, over=N, optimizer=adamw(lr=1e-3))
c = conv2d(x, w, padding=same) != pi
train = metric + 1`;

test("the TextMate grammar scopes the v1 language", async () => {
  const grammar = await loadGrammar();
  const tokens = tokenize(grammar, SAMPLE);
  const scopesOf = (word) => tokens.filter(([s]) => s === word).map(([, sc]) => sc);
  const expect = (word, scope, nth = 0) =>
    assert.strictEqual(scopesOf(word)[nth], scope, `${word} #${nth}: ${scopesOf(word)}`);

  expect("dim", "keyword.declaration.dim");
  expect("Ho", "entity.name.type.dimension");
  expect("H", "entity.name.type.dimension", 1); // [N, H * W]
  expect("int", "storage.type.element");
  expect("bool", "storage.type.element");
  expect("B", "entity.name.type.dimension"); // layer parameter shape
  expect("Dense", "entity.name.type.layer", 1); // instance declaration
  expect("I", "variable.parameter.dimension", 2); // Dense[I=512, ...]
  expect("C", "entity.name.type.dimension");
  expect("fc2", "entity.name.function.call", 1); // fc2(...)
  expect("W", "variable.other.member", 1); // fc1.W
  expect("T", "support.variable.transpose");
  expect("mT", "support.variable.transpose");
  expect("<=", "keyword.operator.comparison");
  expect("!=", "keyword.operator.comparison");
  expect("metric", "keyword.declaration");
  expect("train", "keyword.control.train");
  expect("train", "variable.other.declaration", 1); // train = ...: a name
  expect("over", "variable.parameter.option");
  expect("same", "constant.language.option");
  expect("pi", "constant.language");
  expect("adamw", "support.function.builtin");
});
