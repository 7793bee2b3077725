/**
 * @file Tree-sitter grammar for gradlang, the language of `.grad` tensor programs
 * (SPEC sections 2-6 and 11, v1).
 * @license MIT OR Apache-2.0
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

// Operator precedence, lowest first (SPEC section 5).
const PREC = {
  compare: 1, // < <= > >= == != (not chainable)
  additive: 2, // + -
  multiplicative: 3, // * / @
  unary: 4, // unary -
  power: 5, // ** (right-associative)
  postfix: 6, // f(args)  a.b  x.T  x.mT  x[..]
};

/**
 * Zero or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep(rule) {
  return optional(commaSep1(rule));
}

/**
 * One or more `rule`s separated by commas, with an optional trailing comma.
 * @param {RuleOrLiteral} rule
 */
function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)), optional(','));
}

module.exports = grammar({
  name: 'gradlang',

  extras: $ => [/\s/, $.comment],

  word: $ => $.identifier,

  // `fc1 = Dense[D, 512]` declares an instance when `Dense` is a layer and
  // indexes when it is a tensor (SPEC section 5): both parses are kept and the
  // instance wins when the text allows both.
  conflicts: $ => [
    [$._expression, $.instance],
  ],

  supertypes: $ => [$._statement, $._expression],

  rules: {
    source_file: $ => repeat(choice(seq($._statement, optional(';')), $.layer_definition)),

    // A statement ends where the next one begins; `;` may separate statements.
    _statement: $ => choice(
      $.dim_declaration,
      $.tensor_declaration,
      $.binding,
      $.loss_statement,
      $.metric_statement,
      $.assert_statement,
      $.train_statement,
      $.return_statement,
    ),

    // ---- dimensions (SPEC section 3) ------------------------------------------

    // `dim N`, `dim D = 4096`, `dim H = 256, C = 10`, `dim Ho = (H - 3) / 2 + 1`
    // (No trailing comma: `dim A = 1,` then `x = ..` would be ambiguous.)
    dim_declaration: $ => seq(
      'dim',
      $.dimension_definition,
      repeat(seq(',', $.dimension_definition)),
    ),

    dimension_definition: $ => seq(
      field('name', $.identifier),
      optional(seq('=', field('value', $._dimension_expression))),
    ),

    // The shape of a tensor: `[N, H * W]`, `[T + 1]`, `[]`.
    shape: $ => seq('[', commaSep($._dimension_expression), ']'),

    _dimension_expression: $ => choice(
      alias($.identifier, $.dimension),
      $.number,
      alias($.dimension_parenthesized, $.parenthesized_expression),
      alias($.dimension_unary, $.unary_expression),
      alias($.dimension_binary, $.binary_expression),
    ),

    dimension_parenthesized: $ => seq('(', $._dimension_expression, ')'),

    dimension_unary: $ => prec(PREC.unary, seq(
      field('operator', '-'),
      field('operand', $._dimension_expression),
    )),

    dimension_binary: $ => choice(
      ...[
        [PREC.additive, choice('+', '-')],
        [PREC.multiplicative, choice('*', '/')],
      ].map(([p, op]) => prec.left(/** @type {number} */(p), seq(
        field('left', $._dimension_expression),
        field('operator', /** @type {Rule} */(op)),
        field('right', $._dimension_expression),
      ))),
    ),

    // ---- tensors (SPEC section 4) ---------------------------------------------

    // `input x: [N, D] = normal(0, 1)`, `input t: [N] int`, `param W: [D, M] = zeros`
    tensor_declaration: $ => seq(
      field('kind', choice('input', 'param')),
      field('name', $.identifier),
      ':',
      field('shape', $.shape),
      optional(field('type', $.element_type)),
      optional(seq('=', field('value', $._expression))),
    ),

    element_type: _ => choice('int', 'bool'),

    // ---- bindings and statements (SPEC sections 5, 11) ------------------------

    // `y = x @ W + b`, or an instance `fc1 = Dense[D, 512]`. `metric` and `train`
    // begin statements but are not reserved: `train = ...` is a binding.
    binding: $ => seq(
      field('name', choice(
        $.identifier,
        alias('metric', $.identifier),
        alias('train', $.identifier),
      )),
      '=',
      field('value', choice($._expression, $.instance)),
    ),

    // `Dense[D, 512]`, `Dense[I=512, O=C]`
    instance: $ => prec.dynamic(1, seq(
      field('layer', $.identifier),
      field('arguments', $.dimension_arguments),
    )),

    dimension_arguments: $ => seq(
      '[',
      commaSep(choice($._dimension_expression, $.dimension_argument)),
      ']',
    ),

    dimension_argument: $ => seq(
      field('name', $.identifier),
      '=',
      field('value', $._dimension_expression),
    ),

    loss_statement: $ => seq(
      'loss',
      field('name', $.identifier),
      '=',
      field('value', $._expression),
    ),

    metric_statement: $ => seq(
      'metric',
      field('name', $.identifier),
      '=',
      field('value', $._expression),
    ),

    assert_statement: $ => seq('assert', field('condition', $._expression)),

    // `train(L, over=N, optimizer=adamw(lr=1e-3), schedule=cosine())`
    train_statement: $ => seq('train', field('arguments', $.arguments)),

    return_statement: $ => seq('return', field('value', $._expression)),

    // ---- layers (SPEC section 6) ----------------------------------------------

    // `layer Dense[I, O](x: [B, I]) -> [B, O] { ... }`
    layer_definition: $ => seq(
      'layer',
      field('name', $.identifier),
      optional(field('dimensions', $.dimension_parameters)),
      field('parameters', $.parameters),
      '->',
      field('return_shape', $.shape),
      field('body', $.block),
    ),

    dimension_parameters: $ => seq(
      '[',
      commaSep(alias($.identifier, $.dimension)),
      ']',
    ),

    parameters: $ => seq('(', commaSep($.parameter), ')'),

    parameter: $ => seq(
      field('name', $.identifier),
      ':',
      field('shape', $.shape),
      optional(field('type', $.element_type)),
    ),

    block: $ => seq('{', repeat(seq($._statement, optional(';'))), '}'),

    // ---- expressions (SPEC section 5) -----------------------------------------

    _expression: $ => choice(
      $.identifier,
      $.number,
      $.boolean,
      $.list,
      $.parenthesized_expression,
      $.unary_expression,
      $.binary_expression,
      $.comparison_expression,
      $.call_expression,
      $.member_expression,
      $.index_expression,
    ),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    // Tensor literals, axis lists, shapes passed to functions: `[[1, 2], [3, 4]]`.
    list: $ => seq('[', commaSep($._expression), ']'),

    unary_expression: $ => prec(PREC.unary, seq(
      field('operator', '-'),
      field('operand', $._expression),
    )),

    binary_expression: $ => choice(
      ...[
        [prec.left, PREC.additive, choice('+', '-')],
        [prec.left, PREC.multiplicative, choice('*', '/', '@')],
        [prec.right, PREC.power, '**'],
      ].map(([assoc, p, op]) =>
        /** @type {typeof prec.left} */(assoc)(/** @type {number} */(p), seq(
          field('left', $._expression),
          field('operator', /** @type {RuleOrLiteral} */(op)),
          field('right', $._expression),
        ))),
    ),

    comparison_expression: $ => prec.left(PREC.compare, seq(
      field('left', $._expression),
      field('operator', choice('<', '<=', '>', '>=', '==', '!=')),
      field('right', $._expression),
    )),

    // `relu(x)`, `sum(x, axis=0, keepdims=true)`, `fc1(x)`
    call_expression: $ => prec(PREC.postfix, seq(
      field('function', $._expression),
      field('arguments', $.arguments),
    )),

    arguments: $ => seq('(', commaSep(choice($._expression, $.option)), ')'),

    // `axis=0`, `padding=same` (a bare word), `optimizer=adamw(lr=1e-3)`
    option: $ => seq(
      field('name', $.identifier),
      '=',
      field('value', $._expression),
    ),

    // `fc1.W`, `block.inner.W`, `x.T`, `q.mT`
    member_expression: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '.',
      field('member', $.identifier),
    )),

    // `x[0]`, `x[1:, ::2]`, `x[:, T - 1]`
    index_expression: $ => prec(PREC.postfix, seq(
      field('object', $._expression),
      '[',
      commaSep1(choice($._expression, $.slice)),
      ']',
    )),

    slice: $ => seq(
      optional(field('start', $._expression)),
      ':',
      optional(field('stop', $._expression)),
      optional(seq(':', optional(field('step', $._expression)))),
    ),

    boolean: _ => choice('true', 'false'),

    // `3`, `3.0`, `3.`, `.5`, `1e-3`, `2.5E+4`
    number: _ => token(choice(
      /\d+(\.\d*)?([eE][+-]?\d+)?/,
      /\.\d+([eE][+-]?\d+)?/,
    )),

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    comment: _ => token(seq('#', /.*/)),
  },
});
