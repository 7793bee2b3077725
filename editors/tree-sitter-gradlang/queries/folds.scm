; Folding: layer bodies and multi-line argument lists.

[
  (block)
  (arguments)
  (list)
] @fold
