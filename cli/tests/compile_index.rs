//! `trellis compile` and `--index`: an index file gives the same masks and
//! verdicts as the grammar it was compiled from, and a damaged or
//! mismatched one is refused with a message that says why.

use std::path::{Path, PathBuf};

mod common;

use common::{text, trellis};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trellis-compile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join(name)
}

const JSON: &str = "grammars/library/json.gbnf";
const TOKENIZER: &str = "tiktoken:r50k_base";

fn compile(grammar: &str, output: &Path) -> serde_json::Value {
    let out = trellis(
        &["compile", "--grammar", grammar, "--tokenizer", TOKENIZER, "-o", output.to_str().expect("utf-8")],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn index_masks_equal_grammar_masks() {
    let index = scratch("json.idx");
    let report = compile(JSON, &index);
    assert!(report["lexeme_keys"].as_u64().is_some_and(|keys| keys > 0), "{report}");
    assert_eq!(report["bytes"].as_u64(), std::fs::metadata(&index).ok().map(|m| m.len()));
    let index = index.to_str().expect("utf-8");
    for prefix in ["", "{\"na", "{\"name\": [1, tr", "[{\"a\": -0.5e"] {
        let from_grammar = trellis(&["mask", "--grammar", JSON, "--tokenizer", TOKENIZER, "--prefix", prefix], b"");
        let from_index = trellis(&["mask", "--index", index, "--tokenizer", TOKENIZER, "--prefix", prefix], b"");
        assert_eq!(from_grammar.status.code(), Some(0), "{}", text(&from_grammar.stderr));
        assert_eq!(from_index.status.code(), Some(0), "{}", text(&from_index.stderr));
        assert_eq!(text(&from_grammar.stdout), text(&from_index.stdout), "prefix {prefix:?}");
    }
    // Other commands take the grammar the index holds.
    let check = trellis(&["check", "--index", index], b"{\"a\": [1, 2]}");
    assert_eq!(check.status.code(), Some(0), "{}{}", text(&check.stdout), text(&check.stderr));
}

#[test]
fn damaged_and_mismatched_indexes_are_refused() {
    let path = scratch("damaged.idx");
    compile(JSON, &path);
    let bytes = std::fs::read(&path).expect("index written");
    let path_text = path.to_str().expect("utf-8").to_string();
    let mask = |tokenizer: &str| trellis(&["mask", "--index", &path_text, "--tokenizer", tokenizer], b"");

    let other_vocabulary = mask("tiktoken:cl100k_base");
    assert_eq!(other_vocabulary.status.code(), Some(2));
    assert!(text(&other_vocabulary.stderr).contains("another vocabulary"), "{}", text(&other_vocabulary.stderr));

    std::fs::write(&path, &bytes[..bytes.len() - 100]).expect("truncate");
    let truncated = mask(TOKENIZER);
    assert_eq!(truncated.status.code(), Some(2));
    assert!(text(&truncated.stderr).contains("truncated"), "{}", text(&truncated.stderr));

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    std::fs::write(&path, &flipped).expect("flip a bit");
    let corrupt = mask(TOKENIZER);
    assert_eq!(corrupt.status.code(), Some(2));
    assert!(text(&corrupt.stderr).contains("corrupt"), "{}", text(&corrupt.stderr));

    std::fs::write(&path, b"root ::= \"a\"\n").expect("not an index");
    let not_index = mask(TOKENIZER);
    assert_eq!(not_index.status.code(), Some(2));
    assert!(text(&not_index.stderr).contains("not a Trellis index"), "{}", text(&not_index.stderr));
}

#[test]
fn compile_refuses_an_index_as_input_and_names_bad_grammars() {
    let output = scratch("bad.idx");
    let output = output.to_str().expect("utf-8");
    let bad = trellis(
        &["compile", "--grammar-text", "root ::= (", "--format", "gbnf", "--tokenizer", TOKENIZER, "-o", output],
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("<grammar-text>"), "{}", text(&bad.stderr));
    assert!(!std::path::Path::new(output).exists(), "no file is written for a bad grammar");
}
