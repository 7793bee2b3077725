//! The gradlang grammar for [tree-sitter](https://tree-sitter.github.io/).
//!
//! ```
//! let mut parser = tree_sitter::Parser::new();
//! parser.set_language(&tree_sitter_gradlang::LANGUAGE.into()).unwrap();
//! let tree = parser.parse("dim N = 4\ny = relu(x)\n", None).unwrap();
//! assert!(!tree.root_node().has_error());
//! ```

use tree_sitter_language::LanguageFn;

extern "C" {
    fn tree_sitter_gradlang() -> *const ();
}

/// The gradlang language, for `tree_sitter::Parser::set_language`.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_gradlang) };

/// `src/node-types.json`: the node types of the grammar.
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// `queries/highlights.scm` (nvim-treesitter capture names).
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");

/// `queries/locals.scm`.
pub const LOCALS_QUERY: &str = include_str!("../../queries/locals.scm");

/// `queries/indents.scm` (nvim-treesitter capture names).
pub const INDENTS_QUERY: &str = include_str!("../../queries/indents.scm");

/// `queries/folds.scm`.
pub const FOLDS_QUERY: &str = include_str!("../../queries/folds.scm");
