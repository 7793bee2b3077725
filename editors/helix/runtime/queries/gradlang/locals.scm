; Scopes, definitions and references in Helix: a reference takes the highlight
; of its definition (a layer parameter stays a parameter in the body).

(source_file) @local.scope

(layer_definition) @local.scope

(parameter
  name: (identifier) @local.definition.variable.parameter)

(dimension_definition
  name: (identifier) @local.definition.type)

(dimension_parameters
  (dimension) @local.definition.type)

(identifier) @local.reference
