; Indentation in Helix: layer bodies and bracketed lists that span lines are
; indented by one level; the closing bracket goes back.

[
  (block)
  (arguments)
  (list)
  (shape)
  (parameters)
  (dimension_arguments)
  (parenthesized_expression)
] @indent

[
  "}"
  "]"
  ")"
] @outdent
