#!/usr/bin/env bash
# Builds and tests the tree-sitter grammar with the tree-sitter CLI:
#   1. the committed src/grammar.json is what grammar.js generates (no stale parser);
#   2. the corpus (test/corpus/*.txt) and highlight tests (test/highlight/*);
#   3. every .grad file of the repository parses without an ERROR or MISSING node
#      (except the programs that are meant to be syntax errors, which must fail);
#   4. every query (here, and the Helix and Neovim copies) compiles against the grammar.
#
# The CLI is $TREE_SITTER, else node_modules/.bin/tree-sitter (`npm ci` installs
# it; its install step downloads the binary from the tree-sitter releases), else
# `tree-sitter` on PATH (e.g. from `cargo install tree-sitter-cli --version 0.25.10`).
# Without any of them the script says so and exits 77 ("skipped").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

find_cli() {
  if [[ -n "${TREE_SITTER:-}" ]]; then echo "$TREE_SITTER"; return 0; fi
  if [[ -x node_modules/tree-sitter-cli/tree-sitter ]]; then
    echo "$here/node_modules/tree-sitter-cli/tree-sitter"; return 0
  fi
  if command -v tree-sitter >/dev/null 2>&1; then command -v tree-sitter; return 0; fi
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin/tree-sitter"
  if [[ -x "$cargo_bin" ]]; then echo "$cargo_bin"; return 0; fi
  return 1
}

if ! ts="$(find_cli)"; then
  if command -v npm >/dev/null 2>&1; then
    echo "test.sh: installing tree-sitter-cli from the npm registry (npm ci)" >&2
    if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
      echo "test.sh: npm could not install tree-sitter-cli" >&2
    fi
  fi
  if ! ts="$(find_cli)"; then
    echo "SKIPPED: no tree-sitter CLI: set TREE_SITTER, run \`npm ci\` in" \
      "editors/tree-sitter-gradlang (its install step downloads the CLI binary from" \
      "GitHub), or \`cargo install tree-sitter-cli --version 0.25.10\`" >&2
    exit 77
  fi
fi
echo "tree-sitter CLI: $ts ($("$ts" --version))"

# 1. The committed parser matches grammar.js.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r grammar.js tree-sitter.json package.json "$tmp/"
(cd "$tmp" && "$ts" generate --abi 14 >/dev/null)
for f in grammar.json node-types.json; do
  if ! cmp -s "$tmp/src/$f" "src/$f"; then
    echo "FAIL: src/$f is stale: run \`tree-sitter generate\` in $here" >&2
    exit 1
  fi
done
echo "ok: src/ is generated from grammar.js"

# 2. Corpus and highlight tests.
"$ts" test

# 3. Every .grad file in the repository.
expected_errors=(
  tests/check/E0101_syntax_error.grad     # syntax errors, on purpose
  tests/check/E0102_keyword_as_name.grad  # `loss = ...`: a reserved word as a name
  tests/check/E0104_nesting_too_deep.grad # 66 `(` but 68 `)`
)
mapfile -t files < <(cd "$repo" && find . \( -name node_modules -o -name target -o -name .git \) -prune \
  -o -name '*.grad' -print | sed 's|^\./||' | sort)
good=()
for f in "${files[@]}"; do
  skip=0
  for e in "${expected_errors[@]}"; do [[ "$f" == "$e" ]] && skip=1; done
  [[ $skip == 1 ]] || good+=("$repo/$f")
done
if ! out="$("$ts" parse --quiet --stat "${good[@]}" 2>&1)"; then
  echo "$out" >&2
  echo "FAIL: a .grad file has ERROR or MISSING nodes" >&2
  exit 1
fi
echo "ok: ${#good[@]} .grad files parse without errors: $(echo "$out" | tail -n 1)"
for e in "${expected_errors[@]}"; do
  if "$ts" parse --quiet "$repo/$e" >/dev/null 2>&1; then
    echo "FAIL: $e is a syntax error but parsed without one" >&2
    exit 1
  fi
done
echo "ok: ${#expected_errors[@]} files with deliberate syntax errors are reported"

# 4. Queries compile against the grammar (node names, fields, predicates).
queries=(queries/*.scm ../helix/runtime/queries/gradlang/*.scm)
for q in "${queries[@]}"; do
  "$ts" query --quiet "$q" "$repo/examples/mlp.grad" >/dev/null
done
echo "ok: ${#queries[@]} query files compile"
