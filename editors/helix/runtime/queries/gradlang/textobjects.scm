; Text objects in Helix: `maf`/`mif` select a layer (around / its body),
; `maa` an argument, `mac`/`mic` a comment.

(layer_definition
  body: (block) @function.inside) @function.around

(parameters
  (parameter) @parameter.inside @parameter.around)

(arguments
  (_) @parameter.inside @parameter.around)

(comment) @comment.inside

(comment)+ @comment.around
