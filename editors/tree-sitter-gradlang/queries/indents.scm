; Indentation (nvim-treesitter's capture names): layer bodies and bracketed
; lists that span lines are indented by one level; the closing bracket goes
; back.

[
  (block)
  (arguments)
  (list)
  (shape)
  (parameters)
  (dimension_arguments)
  (parenthesized_expression)
] @indent.begin

[
  "}"
  "]"
  ")"
] @indent.end @indent.branch

(comment) @indent.auto
