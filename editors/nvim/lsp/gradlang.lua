-- The gradlang language server, for Neovim 0.11's vim.lsp.config / vim.lsp.enable
-- (this file is found on 'runtimepath' as lsp/gradlang.lua). Override any field
-- with vim.lsp.config("gradlang", { cmd = { "/path/to/gradlang", "lsp" } }).
return {
  cmd = { "gradlang", "lsp" },
  filetypes = { "gradlang" },
  root_markers = { ".git" },
}
