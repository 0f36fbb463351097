//! The bundled JSON grammars against `serde_json`, the oracle: on every text
//! of `tests/cases/json/corpus.jsonl` (written by
//! `scripts/gen_json_corpus.py`), the grammar accepts exactly when
//! `serde_json::from_str::<IgnoredAny>` does.

use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use trellis_grammars::{CompiledGrammar, Config};

#[derive(Deserialize)]
struct Row {
    text: String,
    valid: bool,
}

fn corpus() -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/json/corpus.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Split on '\n' only: texts may hold U+2028, which is a line break to
    // some readers.
    text.split('\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).expect("corpus row"))
        .collect()
}

fn agree_with_serde_json(grammar_file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grammars/library").join(grammar_file);
    let grammar = CompiledGrammar::from_file(&path, None, &Config::default()).expect("bundled grammar compiles");
    let rows = corpus();
    let valid = rows.iter().filter(|row| row.valid).count();
    assert!(valid >= 200 && rows.len() - valid >= 200, "corpus too small: {valid} valid of {}", rows.len());
    let mut disagreements = Vec::new();
    for row in &rows {
        let oracle = serde_json::from_str::<IgnoredAny>(&row.text).is_ok();
        assert_eq!(oracle, row.valid, "corpus label disagrees with serde_json on {:?}", row.text);
        let verdict = grammar.check(row.text.as_bytes());
        assert!(!verdict.gave_up(), "gave up on {:?}", row.text);
        if verdict.is_complete() != oracle {
            disagreements.push(format!("{:?}: grammar {}, serde_json {oracle}", row.text, verdict.is_complete()));
        }
        // Every prefix of a valid document is viable.
        if oracle {
            let mut matcher = grammar.matcher();
            for (offset, byte) in row.text.bytes().enumerate() {
                assert!(matcher.advance(&[byte]).is_ok(), "prefix of {:?} refused at {offset}", row.text);
            }
        }
    }
    assert!(disagreements.is_empty(), "{grammar_file}:\n{}", disagreements.join("\n"));
}

#[test]
fn json_gbnf_agrees_with_serde_json() {
    agree_with_serde_json("json.gbnf");
}

#[test]
fn json_lark_agrees_with_serde_json() {
    agree_with_serde_json("json.lark");
}
