; Scopes, definitions and references (nvim-treesitter's capture names).
; Dimensions and layers are visible throughout the file; tensors, bindings and
; instances after their statement; a layer's parameters, dimension parameters
; and body bindings only inside the layer.

(source_file) @local.scope

(layer_definition) @local.scope

(dimension_definition
  name: (identifier) @local.definition.type)

(dimension_parameters
  (dimension) @local.definition.type)

(layer_definition
  name: (identifier) @local.definition.type)

(tensor_declaration
  name: (identifier) @local.definition.var)

(binding
  name: (identifier) @local.definition.var)

(loss_statement
  name: (identifier) @local.definition.var)

(metric_statement
  name: (identifier) @local.definition.var)

(parameter
  name: (identifier) @local.definition.parameter)

(identifier) @local.reference

(dimension) @local.reference
