-- End-to-end test of editors/nvim with the real gradlang server, in headless
-- Neovim (0.7 or later). From the repository root:
--
--   GRADLANG_BIN=target/release/gradlang nvim --headless -u NONE -i NONE \
--     --cmd "set rtp^=editors/nvim" -c "luafile editors/nvim/test/e2e.lua"
--
-- (`cargo test --release --test nvim_e2e` runs it with the built binary.)
--
-- It loads this runtime folder the way a user's Neovim does (ftdetect, ftplugin,
-- plugin/gradlang.lua, which starts the server), opens a .grad file with a
-- transposed-weight error, and checks, through Neovim's LSP client:
--   1. the E0302 diagnostic arrives, with its message and "did you mean `W.T`?";
--   2. textDocument/inlayHint gives `h` its shape ": [N, D]";
--   3. textDocument/codeAction at the diagnostic offers the quick fix, which is
--      applied with vim.lsp.util.apply_workspace_edit;
--   4. the server then publishes no diagnostics, and the file is written.
-- It prints "e2e: ok (...)" and exits 0, or "e2e: FAIL: ..." and exits 1.
--
-- Environment: GRADLANG_BIN, the server executable (default: `gradlang` on
-- PATH); GRADLANG_E2E_FILE, the .grad file to create and edit (default: a
-- temporary file); GRADLANG_E2E_TIMEOUT_MS, each wait's limit (default 10000).

local started = vim.loop.hrtime()
local TIMEOUT = tonumber(os.getenv("GRADLANG_E2E_TIMEOUT_MS") or "") or 10000

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

local function fail(msg)
  error({ e2e = msg }, 0)
end

local function check(cond, msg)
  if not cond then
    fail(msg)
  end
  return cond
end

local function wait_for(what, cond)
  check(vim.wait(TIMEOUT, cond, 20), "timed out after " .. TIMEOUT .. " ms waiting for " .. what)
end

local SOURCE = {
  "# A weight stored the other way round: h @ W needs W.T.",
  "dim N = 4, D = 3, M = 2",
  "input x: [N, D] = normal(0, 1)",
  "param W: [M, D] = normal(0, 0.1)",
  "h = tanh(x)",
  "y = h @ W",
}
local BROKEN_LINE = 5 -- 0-based: "y = h @ W"
local FIXED_LINE = "y = h @ W.T"

local function run()
  -- The runtime folder must be on 'runtimepath' (--cmd "set rtp^=editors/nvim").
  local config = vim.api.nvim_get_runtime_file("lsp/gradlang.lua", false)[1]
  check(config and config:match("editors/nvim/lsp/gradlang.lua$"),
    "editors/nvim is not on 'runtimepath' (start with --cmd \"set rtp^=editors/nvim\")")
  local rtp_dir = vim.fn.fnamemodify(config, ":p:h:h")

  local bin = os.getenv("GRADLANG_BIN") or "gradlang"
  check(vim.fn.executable(bin) == 1, "GRADLANG_BIN is not an executable: " .. bin)
  -- The plugin's setting for the server's command line (Neovim 0.7-0.10).
  vim.g.gradlang_server_cmd = { bin, "lsp" }
  if vim.lsp.config then -- Neovim 0.11+: the plugin enables lsp/gradlang.lua
    vim.lsp.config("gradlang", { cmd = { bin, "lsp" } })
  end

  -- What -u NONE skips: file type detection, ftplugins, plugins. Only this
  -- folder's plugin is sourced.
  vim.cmd("filetype plugin on")
  vim.cmd("runtime! plugin/gradlang.lua")
  check(vim.g.loaded_gradlang, "plugin/gradlang.lua was not loaded")

  local path = os.getenv("GRADLANG_E2E_FILE")
  if not path or path == "" then
    path = vim.fn.tempname() .. ".grad"
  end
  check(vim.fn.writefile(SOURCE, path) == 0, "cannot write " .. path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  check(vim.bo[buf].filetype == "gradlang",
    "ftdetect: filetype is '" .. vim.bo[buf].filetype .. "', not gradlang")
  check(vim.bo[buf].commentstring == "# %s", "ftplugin not applied: commentstring is " .. vim.bo[buf].commentstring)

  -- 1. Diagnostics from the server.
  local client
  wait_for("the gradlang client to attach", function()
    local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = buf })
      or vim.lsp.buf_get_clients(buf) -- Neovim 0.7-0.9
    for _, c in pairs(clients) do
      if c.name == "gradlang" and c.server_capabilities then
        client = c
        return true
      end
    end
    return false
  end)
  wait_for("diagnostics", function()
    return #vim.diagnostic.get(buf) > 0
  end)
  local diags = vim.diagnostic.get(buf)
  check(#diags == 1, "expected 1 diagnostic, got " .. #diags .. ": " .. vim.inspect(diags))
  local d = diags[1]
  check(d.source == "gradlang", "diagnostic source: " .. tostring(d.source))
  check(d.code == "E0302", "diagnostic code: " .. tostring(d.code))
  check(d.severity == vim.diagnostic.severity.ERROR, "diagnostic severity: " .. tostring(d.severity))
  check(d.lnum == BROKEN_LINE, "diagnostic on line " .. d.lnum + 1)
  local want = "cannot multiply [N, D] by [M, D]: the inner dimensions D and M differ"
  check(d.message:sub(1, #want) == want, "diagnostic message: " .. d.message)
  check(d.message:find("help: did you mean `W.T`?", 1, true), "no quick-fix help in: " .. d.message)

  -- 2. Inlay hints (Neovim 0.7 has no inlay-hint API: a plain request).
  local uri = vim.uri_from_bufnr(buf)
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/inlayHint", {
    textDocument = { uri = uri },
    range = { start = { line = 0, character = 0 }, ["end"] = { line = #SOURCE, character = 0 } },
  }, TIMEOUT)
  local r = check(responses and responses[client.id], "no inlayHint response")
  check(not r.err and not r.error, "inlayHint error: " .. vim.inspect(r.err or r.error))
  local hint
  for _, h in ipairs(r.result or {}) do
    if h.position.line == 4 then -- "h = tanh(x)"
      hint = h
    end
  end
  check(hint, "no inlay hint on `h`: " .. vim.inspect(r.result))
  local label = type(hint.label) == "string" and hint.label
    or table.concat(vim.tbl_map(function(p) return p.value end, hint.label))
  check(label == ": [N, D]", "inlay hint on `h`: '" .. label .. "'")
  check(hint.position.character == 1, "inlay hint at column " .. hint.position.character)

  -- 3. The quick fix at the diagnostic.
  -- The diagnostic as the server sent it (Neovim 0.8+ keeps it in user_data.lsp;
  -- 0.7 keeps only some fields there: the range is rebuilt from the byte
  -- columns, which are UTF-16 ones on this ASCII line).
  local lsp_diag = vim.deepcopy(d.user_data and d.user_data.lsp or {})
  if not lsp_diag.range then
    lsp_diag.range = {
      start = { line = d.lnum, character = d.col },
      ["end"] = { line = d.end_lnum, character = d.end_col },
    }
    lsp_diag.severity = vim.lsp.protocol.DiagnosticSeverity.Error
    lsp_diag.message = d.message
    lsp_diag.source = d.source
    lsp_diag.code = d.code
  end
  responses = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
    textDocument = { uri = uri },
    range = lsp_diag.range,
    context = { diagnostics = { lsp_diag } },
  }, TIMEOUT)
  r = check(responses and responses[client.id], "no codeAction response")
  check(not r.err and not r.error, "codeAction error: " .. vim.inspect(r.err or r.error))
  local actions = r.result or {}
  check(#actions == 1, "expected 1 code action, got " .. vim.inspect(actions))
  local action = actions[1]
  check(action.kind == "quickfix", "action kind: " .. tostring(action.kind))
  check(action.title == "Replace `W` with `W.T`", "action title: " .. tostring(action.title))
  check(action.edit, "the action has no edit: " .. vim.inspect(action))
  vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding or "utf-16")
  local line = vim.api.nvim_buf_get_lines(buf, BROKEN_LINE, BROKEN_LINE + 1, true)[1]
  check(line == FIXED_LINE, "after the fix the line is '" .. line .. "'")

  -- 4. The server rechecks the changed text and clears the diagnostic.
  wait_for("the diagnostics to clear", function()
    return #vim.diagnostic.get(buf) == 0
  end)
  vim.cmd("silent write")

  local v = vim.version()
  return string.format("e2e: ok (Neovim %d.%d.%d, %s, %s, %.0f ms)", v.major, v.minor, v.patch,
    rtp_dir, path, (vim.loop.hrtime() - started) / 1e6)
end

local ok, result = xpcall(run, function(e)
  if type(e) == "table" and e.e2e then
    return e.e2e
  end
  return debug.traceback(tostring(e), 2)
end)
if ok then
  say(result)
  vim.cmd("qa!")
else
  say("e2e: FAIL: " .. result)
  vim.cmd("cquit 1")
end
