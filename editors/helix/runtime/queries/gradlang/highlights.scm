; Highlights for gradlang in Helix. Helix uses the first pattern that captures
; a node, so specific patterns come before general ones (the reverse of the
; Neovim order in editors/tree-sitter-gradlang/queries/highlights.scm).

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
((number) @constant.numeric.integer
  (#match? @constant.numeric.integer "^[0-9]+$"))

(number) @constant.numeric.float

(boolean) @constant.builtin.boolean

(comment) @comment.line

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

; The transposes `.T` and `.mT`, then other members: instance parameters (`fc1.W`).
((member_expression
  member: (identifier) @function.builtin)
  (#any-of? @function.builtin "T" "mT"))

(call_expression
  function: (member_expression
    member: (identifier) @function))

(member_expression
  member: (identifier) @variable.other.member)

; Calls: derivatives and built-in functions, then layer instances.
((call_expression
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin
    "grad" "jacobian" "vjp" "jvp" "hessian"
    "exp" "log" "sqrt" "tanh" "sigmoid" "relu" "abs" "sin" "cos" "neg"
    "maximum" "minimum" "sum" "mean" "max" "min" "transpose" "reshape"
    "softmax" "log_softmax" "logsumexp" "cross_entropy" "mse" "one_hot"
    "tensordot" "zeros" "ones" "softplus" "log1p" "expm1" "erf" "silu" "sign"
    "floor" "ceil" "round" "gelu" "leaky_relu" "elu" "clip" "where" "float"
    "var" "std" "norm" "argmax" "argmin" "accuracy" "concat" "stack" "take"
    "gather" "tril" "triu" "arange" "eye" "flatten" "conv1d" "conv2d"
    "max_pool2d" "avg_pool2d" "dropout" "close" "normal" "uniform"
    "sgd" "adam" "adamw" "constant" "step" "cosine" "warmup_cosine" "linear"))

(call_expression
  function: (identifier) @function)

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

((identifier) @constant.builtin
  (#any-of? @constant.builtin "pi" "inf"))

(identifier) @variable

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
