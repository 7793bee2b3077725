; Highlights for gradlang in Helix (the capture names of Helix's themes).
; Where several patterns capture the same node, the last one wins (Helix 24.03
; and later): general cases come first, as in
; editors/tree-sitter-gradlang/queries/highlights.scm.

(identifier) @variable

((identifier) @constant.builtin
  (#any-of? @constant.builtin "pi" "inf"))

; Dimensions: in shapes, dimension parameters and arguments, `dim` statements.
(dimension) @type

(dimension_definition
  name: (identifier) @type)

(dimension_argument
  name: (identifier) @variable.parameter)

(layer_definition
  name: (identifier) @type)

(instance
  layer: (identifier) @type)

(parameter
  name: (identifier) @variable.parameter)

; Members: instance parameters (`fc1.W`), methods, and the transposes `.T`, `.mT`.
(member_expression
  member: (identifier) @variable.other.member)

(call_expression
  function: (member_expression
    member: (identifier) @function))

((member_expression
  member: (identifier) @function.builtin)
  (#any-of? @function.builtin "T" "mT"))

; Calls: layer instances, then derivatives and built-in functions.
(call_expression
  function: (identifier) @function)

((call_expression
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin
    "grad" "jacobian" "vjp" "jvp" "hessian"
    "exp" "log" "sqrt" "tanh" "sigmoid" "relu" "abs" "sign" "sin" "cos" "neg"
    "maximum" "minimum" "sum" "mean" "max" "min" "transpose" "reshape"
    "softmax" "log_softmax" "logsumexp" "cross_entropy" "mse" "one_hot"
    "tensordot" "zeros" "ones" "softplus" "log1p" "expm1" "erf" "silu"
    "floor" "ceil" "round" "gelu" "leaky_relu" "elu" "clip" "where" "float"
    "var" "std" "norm" "argmax" "argmin" "accuracy" "concat" "stack" "take"
    "gather" "tril" "triu" "arange" "eye" "flatten" "conv1d" "conv2d"
    "max_pool2d" "avg_pool2d" "dropout" "close" "normal" "uniform"
    "sgd" "adam" "adamw" "constant" "step" "cosine" "warmup_cosine" "linear"))

; Initializers written without a call: `= zeros`, `= ones`.
((tensor_declaration
  value: (identifier) @function.builtin)
  (#any-of? @function.builtin "zeros" "ones"))

; Options: `axis=0`; a bare word as an option value: `padding=same`.
(option
  name: (identifier) @variable.parameter)

((option
  value: (identifier) @constant)
  (#any-of? @constant "same" "valid"))

; Keywords.
[
  "dim"
  "input"
  "param"
  "loss"
  "metric"
] @keyword.storage

"layer" @keyword.function

"return" @keyword.control.return

[
  "assert"
  "train"
] @keyword

(element_type) @type.builtin

; Literals.
(number) @constant.numeric.float

((number) @constant.numeric.integer
  (#match? @constant.numeric.integer "^[0-9]+$"))

(boolean) @constant.builtin.boolean

(comment) @comment.line

; Operators and punctuation.
[
  "+"
  "-"
  "*"
  "/"
  "@"
  "**"
  "<"
  "<="
  ">"
  ">="
  "=="
  "!="
  "="
  "->"
] @operator

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

[
  ","
  ":"
  ";"
  "."
] @punctuation.delimiter
