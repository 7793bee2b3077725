-- Buffer settings for gradlang: `#` comments, layer bodies indented by two spaces,
-- tree-sitter highlighting (and indentation, with nvim-treesitter) when the
-- parser `parser/gradlang.so` is on 'runtimepath' (`:TSInstall gradlang`, see
-- plugin/gradlang.lua, or compiled by hand: README).
vim.bo.commentstring = "# %s"
vim.bo.comments = ":#"
vim.bo.shiftwidth = 2
vim.bo.softtabstop = 2
vim.bo.expandtab = true
vim.bo.autoindent = true
vim.bo.smartindent = true -- indents after a line ending in `{`

local highlighting
if vim.treesitter.start then
  highlighting = pcall(vim.treesitter.start)
else -- Neovim 0.7
  highlighting = pcall(function()
    vim.treesitter.highlighter.new(vim.treesitter.get_parser(0, "gradlang"))
  end)
end
if highlighting and pcall(require, "nvim-treesitter") then
  vim.bo.indentexpr = "v:lua.require'nvim-treesitter'.indentexpr()"
end

vim.b.undo_ftplugin = "setlocal commentstring< comments< shiftwidth< softtabstop< expandtab<"
  .. " autoindent< smartindent< indentexpr<"
