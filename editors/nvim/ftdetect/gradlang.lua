-- .grad files are gradlang.
vim.filetype.add({ extension = { grad = "gradlang" } })
