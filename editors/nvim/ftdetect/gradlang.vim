" .grad files are gradlang (a Vim script file: Neovim 0.7 sources ftdetect/*.vim
" but not ftdetect/*.lua, and its vim.filetype.add needs the opt-in filetype.lua).
autocmd BufNewFile,BufRead *.grad setfiletype gradlang
