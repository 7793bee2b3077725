-- gradlang for Neovim: the language server, diagnostics inline, and the
-- tree-sitter parser for nvim-treesitter. Add this folder (editors/nvim of a
-- gradlang clone) to 'runtimepath'; see the README's Editor support section.
--
-- Neovim 0.11+: vim.lsp.config (lsp/gradlang.lua) + vim.lsp.enable.
-- Neovim 0.8-0.10: vim.lsp.start from a FileType autocmd.
-- Neovim 0.7 (Debian 12's): no vim.lsp.start and no vim.fs: one client from
-- vim.lsp.start_client, attached to each gradlang buffer; no tree-sitter
-- highlighting (vim.treesitter.start is 0.8+).
if vim.g.loaded_gradlang then
  return
end
vim.g.loaded_gradlang = true

local function this_dir()
  local source = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(source, ":p:h:h")
end

-- editors/tree-sitter-gradlang, beside this folder.
local grammar_dir = vim.fn.fnamemodify(this_dir() .. "/../tree-sitter-gradlang", ":p"):gsub("/$", "")

vim.diagnostic.config({ virtual_text = true })

if vim.lsp.config and vim.lsp.enable then
  vim.lsp.enable("gradlang")
else
  local cmd = vim.g.gradlang_server_cmd or { "gradlang", "lsp" }
  local client_id -- Neovim 0.7: one client for every gradlang buffer
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "gradlang",
    group = vim.api.nvim_create_augroup("gradlang_lsp", { clear = true }),
    callback = function(args)
      if vim.lsp.start then
        local git = vim.fs.find(".git", { upward = true, path = vim.fs.dirname(args.file) })[1]
        vim.lsp.start({
          name = "gradlang",
          cmd = cmd,
          root_dir = git and vim.fs.dirname(git) or vim.fn.getcwd(),
        })
      else
        client_id = client_id or vim.lsp.start_client({
          name = "gradlang",
          cmd = cmd,
          root_dir = vim.fn.getcwd(),
        })
        if client_id then
          vim.lsp.buf_attach_client(args.buf, client_id)
        end
      end
    end,
  })
end

-- nvim-treesitter: `:TSInstall gradlang` compiles editors/tree-sitter-gradlang.
-- The `main` branch (Neovim 0.11+) reads parser definitions on the TSUpdate event;
-- the `master` branch from get_parser_configs().
local ok, parsers = pcall(require, "nvim-treesitter.parsers")
if ok and type(parsers.get_parser_configs) == "function" then
  parsers.get_parser_configs().gradlang = {
    install_info = { url = grammar_dir, files = { "src/parser.c" } },
    filetype = "gradlang",
  }
else
  vim.api.nvim_create_autocmd("User", {
    pattern = "TSUpdate",
    callback = function()
      require("nvim-treesitter.parsers").gradlang = {
        install_info = { path = grammar_dir, queries = "queries" },
      }
    end,
  })
end
