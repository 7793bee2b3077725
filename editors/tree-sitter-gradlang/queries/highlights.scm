; Highlights for gradlang. Capture names follow nvim-treesitter's (which the
; tree-sitter CLI's `highlight` command also understands); Helix has its own
; copy with Helix's names in editors/helix/runtime/queries/gradlang/.
;
; Where several patterns capture the same node, the last one wins (Neovim, the
; tree-sitter CLI, Helix 24.03 and later): general cases come first.

(identifier) @variable

((identifier) @constant.builtin
  (#any-of? @constant.builtin "pi" "inf"))

; Dimensions: in shapes, dimension parameters and arguments, `dim` statements.
(dimension) @type

(dimension_definition
  name: (identifier) @type.definition)

(dimension_argument
  name: (identifier) @variable.parameter)

; Declarations.
(tensor_declaration
  name: (identifier) @variable)

(binding
  name: (identifier) @variable)

(loss_statement
  name: (identifier) @variable)

(metric_statement
  name: (identifier) @variable)

(parameter
  name: (identifier) @variable.parameter)

(layer_definition
  name: (identifier) @type.definition)

(instance
  layer: (identifier) @type)

(element_type) @type.builtin

; Member access: instance parameters (`fc1.W`) and the transposes `.T`, `.mT`.
(member_expression
  member: (identifier) @property)

((member_expression
  member: (identifier) @function.builtin)
  (#any-of? @function.builtin "T" "mT"))

; Calls.
(call_expression
  function: (identifier) @function.call)

(call_expression
  function: (member_expression
    member: (identifier) @function.method.call))

((call_expression
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin
    "exp" "log" "sqrt" "tanh" "sigmoid" "relu" "abs" "sign" "sin" "cos" "neg"
    "maximum" "minimum" "sum" "mean" "max" "min" "transpose" "reshape"
    "softmax" "log_softmax" "logsumexp" "cross_entropy" "mse" "one_hot"
    "tensordot" "zeros" "ones" "softplus" "log1p" "expm1" "erf" "silu"
    "floor" "ceil" "round" "gelu" "leaky_relu" "elu" "clip" "where" "float"
    "var" "std" "norm" "argmax" "argmin" "accuracy" "concat" "stack" "take"
    "gather" "tril" "triu" "arange" "eye" "flatten" "conv1d" "conv2d"
    "max_pool2d" "avg_pool2d" "dropout" "close" "normal" "uniform"
    "sgd" "adam" "adamw" "constant" "step" "cosine" "warmup_cosine" "linear"))

((call_expression
  function: (identifier) @function.builtin)
  (#any-of? @function.builtin "grad" "jacobian" "vjp" "jvp" "hessian"))

; Initializers written without a call: `= zeros`, `= ones`.
(tensor_declaration
  value: (identifier) @function.builtin
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
] @keyword

"layer" @keyword.function

[
  "assert"
  "train"
] @keyword

"return" @keyword.return

; Literals.
(number) @number

(boolean) @boolean

(comment) @comment

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
