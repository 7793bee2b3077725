//! The editors' tree-sitter grammar (`editors/tree-sitter-gradlang/`), tested from
//! the Rust suite so that it runs on any machine with cargo:
//!
//! - every `.grad` file of the repository parses without an ERROR or MISSING node
//!   (the programs that are syntax errors on purpose must have one);
//! - the corpus (`test/corpus/*.txt`) gives the expected trees;
//! - every query (the grammar's, Neovim's and Helix's) compiles against the grammar;
//! - the TextMate and tree-sitter grammars know every keyword of the language;
//! - `test.sh` (the tree-sitter CLI: generate, corpus and highlight tests, parse,
//!   query) runs where the CLI can be had, and says why not otherwise.
//!
//! The parser is the committed `src/parser.c`, compiled by the grammar's crate
//! (a dev-dependency); `test.sh` checks that it is generated from `grammar.js`.

use std::path::{Path, PathBuf};
use std::process::Command;

use tree_sitter::{Language, Node, Parser, Query};

/// Programs that are syntax errors on purpose (relative to the repository root).
const EXPECTED_ERRORS: &[&str] = &[
    "tests/check/E0101_syntax_error.grad",
    "tests/check/E0101_compound_assignment.grad",
    "tests/check/E0102_keyword_as_name.grad",
    "tests/check/E0104_nesting_too_deep.grad",
];

/// Reserved words (SPEC section 2) and the words that begin statements without
/// being reserved (`metric`, `train`: SPEC section 11).
const KEYWORDS: &[&str] = &[
    "dim", "input", "param", "layer", "return", "loss", "assert", "int", "bool", "true", "false",
];
const STATEMENT_WORDS: &[&str] = &["metric", "train"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn grammar_dir() -> PathBuf {
    root().join("editors/tree-sitter-gradlang")
}

fn language() -> Language {
    tree_sitter_gradlang::LANGUAGE.into()
}

fn parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&language())
        .expect("the generated parser's ABI is supported by the tree-sitter crate");
    parser
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.grad` file under `dir`, skipping build output, node_modules, .git and
/// the fuzzers' seed corpora (copies of deliberately malformed programs).
fn grad_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".git" | "seeds") {
                grad_files(&path, out);
            }
        } else if name.ends_with(".grad") {
            out.push(path);
        }
    }
}

/// The first ERROR or MISSING node under `node`, as `line:column: kind`.
fn first_error(node: Node) -> Option<String> {
    if node.is_error() || node.is_missing() {
        let p = node.start_position();
        let what = if node.is_missing() {
            format!("MISSING {}", node.kind())
        } else {
            "ERROR".to_string()
        };
        return Some(format!("{}:{}: {what}", p.row + 1, p.column + 1));
    }
    if !node.has_error() {
        return None;
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    children.into_iter().find_map(first_error)
}

#[test]
fn every_grad_file_in_the_repository_parses() {
    let mut files = Vec::new();
    grad_files(&root(), &mut files);
    let mut parser = parser();
    let (mut clean, mut failures) = (0, Vec::new());
    for path in &files {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let tree = parser.parse(read(path), None).unwrap();
        let error = first_error(tree.root_node());
        match (EXPECTED_ERRORS.contains(&rel.as_str()), error) {
            (false, None) => clean += 1,
            (false, Some(e)) => failures.push(format!("{rel}:{e}")),
            (true, Some(_)) => {}
            (true, None) => {
                failures.push(format!("{rel}: a syntax error on purpose, parsed clean"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "tree-sitter parse:\n{}",
        failures.join("\n")
    );
    assert!(clean >= 50, "only {clean} .grad files found");
    eprintln!(
        "tree-sitter: {clean} .grad files parse clean, {} are syntax errors on purpose",
        EXPECTED_ERRORS.len()
    );
}

/// One corpus case: name, input, expected tree (whitespace-normalized).
fn corpus_cases(text: &str) -> Vec<(String, String, String)> {
    let is_rule = |line: &str, c: char| line.len() >= 3 && line.chars().all(|x| x == c);
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_rule(lines[i], '=') {
            i += 1;
            continue;
        }
        let name = lines[i + 1].trim().to_string();
        assert!(is_rule(lines[i + 2], '='), "corpus header of {name}");
        let start = i + 3;
        let sep = (start..lines.len())
            .find(|&j| is_rule(lines[j], '-'))
            .unwrap_or_else(|| panic!("{name}: no --- line"));
        let end = (sep + 1..lines.len())
            .find(|&j| is_rule(lines[j], '=') && j + 2 < lines.len() && is_rule(lines[j + 2], '='))
            .unwrap_or(lines.len());
        let input = lines[start..sep].join("\n");
        cases.push((name, input, normalize(&lines[sep + 1..end].join("\n"))));
        i = end;
    }
    cases
}

fn normalize(sexp: &str) -> String {
    sexp.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" )", ")")
}

#[test]
fn corpus_gives_the_expected_trees() {
    let dir = grammar_dir().join("test/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut parser = parser();
    let (mut count, mut failures) = (0, Vec::new());
    for file in &files {
        for (name, input, expected) in corpus_cases(&read(file)) {
            let tree = parser.parse(&input, None).unwrap();
            let actual = normalize(&tree.root_node().to_sexp());
            if actual != expected {
                failures.push(format!(
                    "{name}\n  expected {expected}\n  actual   {actual}"
                ));
            }
            count += 1;
        }
    }
    assert!(failures.is_empty(), "corpus:\n{}", failures.join("\n"));
    assert!(count >= 16, "only {count} corpus cases");
}

#[test]
fn queries_compile_against_the_grammar() {
    let language = language();
    let dirs = [
        grammar_dir().join("queries"),
        root().join("editors/nvim/queries/gradlang"),
        root().join("editors/helix/runtime/queries/gradlang"),
    ];
    let mut count = 0;
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "scm"))
            .collect();
        files.sort();
        for file in files {
            if let Err(e) = Query::new(&language, &read(&file)) {
                panic!("{}: {e}", file.display());
            }
            count += 1;
        }
    }
    assert!(count >= 10, "only {count} query files");
}

/// The highlight query captures what the README promises on a real example:
/// dimensions in shapes, `fc1.W`, `.T`, a layer call, keywords.
#[test]
fn highlights_scope_dimensions_members_and_layer_calls() {
    use tree_sitter::StreamingIterator;
    let source = "dim N = 4\nlayer Dense[I, O](x: [B, I]) -> [B, O] {\n  return x\n}\n\
                  fc1 = Dense[N, 2]\ninput x: [N, N] bool\ny = fc1(x) @ fc1.W.T\nmetric m = sum(y)\n";
    let tree = parser().parse(source, None).unwrap();
    let query = Query::new(&language(), tree_sitter_gradlang::HIGHLIGHTS_QUERY).unwrap();
    let mut cursor = tree_sitter::QueryCursor::new();
    // The last pattern that captures a node wins, as in Neovim, Helix and the CLI.
    let mut best: std::collections::BTreeMap<(usize, usize), (usize, String)> = Default::default();
    let mut matches = cursor.matches(&query, tree.root_node(), source.as_bytes());
    while let Some(m) = matches.next() {
        for c in m.captures {
            let key = (c.node.start_byte(), c.node.end_byte());
            let name = query.capture_names()[c.index as usize].to_string();
            let entry = best.entry(key).or_insert((m.pattern_index, name.clone()));
            if m.pattern_index >= entry.0 {
                *entry = (m.pattern_index, name);
            }
        }
    }
    let capture_of = |needle: &str, nth: usize| -> String {
        let start = source.match_indices(needle).nth(nth).unwrap().0;
        best.get(&(start, start + needle.len()))
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| "none".to_string())
    };
    assert_eq!(capture_of("dim", 0), "keyword");
    assert_eq!(capture_of("B", 0), "type");
    assert_eq!(capture_of("Dense", 1), "type");
    assert_eq!(capture_of("bool", 0), "type.builtin");
    assert_eq!(capture_of("fc1", 1), "function.call");
    assert_eq!(capture_of("W", 0), "property");
    assert_eq!(capture_of("T", 0), "function.builtin");
    assert_eq!(capture_of("metric", 0), "keyword");
    assert_eq!(capture_of("sum", 0), "function.builtin");
}

/// Every keyword of the language is a keyword of the tree-sitter grammar, is
/// highlighted by its queries (Neovim's and Helix's) and by the TextMate grammar,
/// and the keywords the pest grammar reserves are all among them.
#[test]
fn editor_grammars_know_every_keyword() {
    let pest = read(&root().join("grammar/gradlang.pest"));
    let reserved_line = pest
        .lines()
        .skip_while(|l| !l.starts_with("keyword"))
        .nth(1)
        .expect("the pest grammar's keyword rule");
    let pest_keywords: Vec<&str> = reserved_line.split('"').skip(1).step_by(2).collect();
    assert!(pest_keywords.len() >= 10, "{reserved_line}");
    for kw in &pest_keywords {
        assert!(
            KEYWORDS.contains(kw),
            "pest keyword {kw} missing from this test's list"
        );
    }
    for kw in gradlang::syntax::KEYWORDS {
        assert!(
            KEYWORDS.contains(kw) || STATEMENT_WORDS.contains(kw),
            "completion keyword {kw} missing from this test's list"
        );
    }

    let ts_grammar: serde_json::Value =
        serde_json::from_str(&read(&grammar_dir().join("src/grammar.json"))).unwrap();
    let mut strings = Vec::new();
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("type").and_then(|t| t.as_str()) == Some("STRING") {
                    out.push(m["value"].as_str().unwrap().to_string());
                }
                m.values().for_each(|x| collect(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    collect(&ts_grammar["rules"], &mut strings);

    let tm: serde_json::Value = serde_json::from_str(&read(
        &root().join("editors/vscode/syntaxes/gradlang.tmLanguage.json"),
    ))
    .unwrap();
    // The words of every regular expression of the TextMate grammar.
    let mut regexes = Vec::new();
    fn collect_regexes(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x.as_str()) {
                        ("match" | "begin", Some(r)) => out.push(r.to_string()),
                        _ => collect_regexes(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_regexes(x, out)),
            _ => {}
        }
    }
    collect_regexes(&tm["repository"], &mut regexes);
    let tm_text = regexes.join(" ");
    let tm_words: Vec<&str> = tm_text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();

    let highlights = [
        read(&grammar_dir().join("queries/highlights.scm")),
        read(&root().join("editors/helix/runtime/queries/gradlang/highlights.scm")),
    ];
    // `int`/`bool` are highlighted through (element_type), `true`/`false` through (boolean).
    let node_of = |kw: &str| match kw {
        "int" | "bool" => "(element_type)",
        "true" | "false" => "(boolean)",
        _ => "",
    };
    for kw in KEYWORDS.iter().chain(STATEMENT_WORDS) {
        assert!(
            strings.iter().any(|s| s == kw),
            "tree-sitter grammar lacks {kw}"
        );
        assert!(tm_words.contains(kw), "TextMate grammar lacks {kw}");
        for h in &highlights {
            let quoted = format!("\"{kw}\"");
            let node = node_of(kw);
            assert!(
                h.contains(&quoted) || (!node.is_empty() && h.contains(node)),
                "a highlights.scm lacks {kw}"
            );
        }
    }
}

/// The quoted words of `text` from each occurrence of `start` to the next
/// `)`, one list per occurrence.
fn quoted_lists(text: &str, start: &str) -> Vec<Vec<String>> {
    text.match_indices(start)
        .map(|(at, _)| {
            let rest = &text[at + start.len()..];
            let body = &rest[..rest.find(')').unwrap_or(rest.len())];
            body.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn quoted_after(text: &str, start: &str) -> Vec<String> {
    quoted_lists(text, start).concat()
}

/// Every editor grammar highlights exactly the builtin table's functions
/// (derivatives, `close`, initializers included) and the optimizers and
/// schedules of `train`: none missing, none stale, none listed twice.
#[test]
fn editor_grammars_highlight_exactly_the_builtin_functions() {
    let mut expected: Vec<&str> = gradlang::check::BUILTINS.iter().map(|b| b.name).collect();
    expected.extend(
        gradlang::check::train::spec::OPTIMIZERS
            .iter()
            .map(|r| r.name),
    );
    expected.extend(
        gradlang::check::train::spec::SCHEDULES
            .iter()
            .map(|r| r.name),
    );
    expected.sort_unstable();
    expected.dedup();

    // The calls' lists; `.T`/`.mT` (members) and `= zeros`/`= ones` (bare
    // initializers) are highlighted as builtins too, by patterns of their own.
    let tree_sitter = |path: PathBuf| {
        let lists = quoted_lists(&read(&path), "(#any-of? @function.builtin");
        lists
            .into_iter()
            .filter(|l| l != &["T", "mT"] && l != &["zeros", "ones"])
            .collect::<Vec<_>>()
            .concat()
    };
    let emacs_text = read(&root().join("editors/emacs/gradlang-mode.el"));
    let mut emacs = quoted_after(&emacs_text, "(defconst gradlang--builtins\n  '(");
    // the derivatives' own list, which starts with "grad"
    emacs.extend(quoted_after(&emacs_text, "(regexp-opt '(\"grad\""));
    emacs.push("grad".to_string());
    let tm: serde_json::Value = serde_json::from_str(&read(
        &root().join("editors/vscode/syntaxes/gradlang.tmLanguage.json"),
    ))
    .unwrap();
    let tm_words = |key: &str| -> Vec<String> {
        let m = tm["repository"][key]["match"].as_str().unwrap_or("");
        let inner = m.split('(').nth(1).unwrap_or("");
        let inner = &inner[..inner.find(')').unwrap_or(inner.len())];
        inner.split('|').map(str::to_string).collect()
    };
    let grammars = [
        (
            "tree-sitter highlights.scm",
            tree_sitter(grammar_dir().join("queries/highlights.scm")),
        ),
        (
            "Helix highlights.scm",
            tree_sitter(root().join("editors/helix/runtime/queries/gradlang/highlights.scm")),
        ),
        ("gradlang-mode.el", emacs),
        (
            "TextMate grammar",
            [tm_words("builtin"), tm_words("derivative")].concat(),
        ),
    ];
    for (what, mut words) in grammars {
        words.sort_unstable();
        let listed = words.len();
        words.dedup();
        assert_eq!(listed, words.len(), "{what} lists a name twice: {words:?}");
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|n| !words.iter().any(|w| w == **n))
            .collect();
        let stale: Vec<&String> = words
            .iter()
            .filter(|w| !expected.contains(&w.as_str()))
            .collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "{what}: missing {missing:?}, not builtins {stale:?}"
        );
    }
}

/// `test.sh` builds and tests the grammar with the tree-sitter CLI: the generated
/// parser is up to date, the corpus and highlight tests pass, every .grad file
/// parses, every query compiles. It needs the CLI (npm's `tree-sitter-cli`, whose
/// install step downloads the binary from the tree-sitter releases, or
/// `cargo install tree-sitter-cli`); without one it exits 77 and this test says
/// it was skipped: the tests above cover the parser and queries in any case.
#[test]
fn tree_sitter_cli_test_script() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIPPED tree_sitter_cli_test_script: no bash");
        return;
    }
    let out = Command::new("bash")
        .arg(grammar_dir().join("test.sh"))
        .output()
        .expect("run test.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            for line in stdout
                .lines()
                .filter(|l| l.starts_with("ok:") || l.contains("CLI:"))
            {
                eprintln!("test.sh: {line}");
            }
        }
        Some(77) => {
            let reason = stderr
                .lines()
                .find(|l| l.starts_with("SKIPPED"))
                .unwrap_or("SKIPPED");
            eprintln!("tree_sitter_cli_test_script: {reason}");
        }
        _ => panic!("test.sh failed ({}):\n{stdout}\n{stderr}", out.status),
    }
}
