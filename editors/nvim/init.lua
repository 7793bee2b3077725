-- A minimal init.lua for gradlang in Neovim 0.11 or later (no plugin manager):
--   nvim -u /path/to/gradlang/editors/nvim/init.lua file.grad
-- or copy these lines into your own init.lua with the path of your clone.
local gradlang = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
vim.opt.runtimepath:prepend(gradlang)

-- Where the server is, if `gradlang` is not on PATH:
-- vim.lsp.config("gradlang", { cmd = { "/path/to/gradlang/target/release/gradlang", "lsp" } })

vim.diagnostic.config({ virtual_text = true })
