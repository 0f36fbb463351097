//! The `trellis check` contract (exit codes, messages, `--jsonl` output),
//! run on the built binary.

mod common;

use common::{text, trellis};

const JSON: &str = "grammars/library/json.gbnf";

#[test]
fn complete_incomplete_and_rejected_inputs() {
    let complete = trellis(&["check", "--grammar", JSON], br#"{"a": [1, 2]}"#);
    assert_eq!(complete.status.code(), Some(0), "{}", text(&complete.stdout));

    let incomplete = trellis(&["check", "--grammar", JSON], br#"{"a": [1, 2"#);
    assert_eq!(incomplete.status.code(), Some(1));
    assert!(text(&incomplete.stdout).contains("incomplete"), "{}", text(&incomplete.stdout));
    let prefix = trellis(&["check", "--grammar", JSON, "--prefix"], br#"{"a": [1, 2"#);
    assert_eq!(prefix.status.code(), Some(0));

    let rejected = trellis(&["check", "--grammar", JSON], br#"{"a": x}"#);
    assert_eq!(rejected.status.code(), Some(1));
    assert!(text(&rejected.stdout).contains("byte 6"), "{}", text(&rejected.stdout));
    let rejected_prefix = trellis(&["check", "--grammar", JSON, "--prefix"], br#"{"a": x"#);
    assert_eq!(rejected_prefix.status.code(), Some(1));

    // Not UTF-8: still bytes.
    let binary = trellis(&["check", "--grammar", JSON], b"\"\xff\"");
    assert_eq!(binary.status.code(), Some(1));
}

#[test]
fn invalid_grammars_exit_2_with_the_place() {
    let undefined = trellis(&["check", "--grammar-text", "root ::= \"a\" | foo", "--format", "gbnf"], b"a");
    assert_eq!(undefined.status.code(), Some(2));
    let message = text(&undefined.stderr);
    assert!(message.contains("1:16") && message.contains('^'), "{message}");

    let missing = trellis(&["check", "--grammar", "no/such/file.gbnf"], b"");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no/such/file.gbnf"));

    let bad_regex = trellis(&["check", "--grammar-text", "a(b", "--format", "regex"], b"");
    assert_eq!(bad_regex.status.code(), Some(2));
}

#[test]
fn jsonl_answers_line_by_line() {
    let input = "\"[1]\"\n\"[1\"\n\"x\"\nnot json\n";
    let output = trellis(&["check", "--grammar", JSON, "--jsonl"], input.as_bytes());
    assert_eq!(output.status.code(), Some(0));
    let lines: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], serde_json::json!({"complete": true, "prefix": true, "error_offset": null}));
    assert_eq!(lines[1], serde_json::json!({"complete": false, "prefix": true, "error_offset": null}));
    assert_eq!(lines[2], serde_json::json!({"complete": false, "prefix": false, "error_offset": 0}));
    assert!(lines[3]["error"].is_string());
}

#[test]
fn mask_lists_allowed_tokens() {
    let output = trellis(
        &["mask", "--grammar-text", "(yes|no)", "--format", "regex", "--tokenizer", "tiktoken:r50k_base", "--show"],
        b"",
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let texts: Vec<&str> =
        report["allowed"].as_array().expect("list").iter().filter_map(|t| t["text"].as_str()).collect();
    for expected in ["y", "yes", "n", "no"] {
        assert!(texts.contains(&expected), "{texts:?}");
    }
    assert!(texts.iter().all(|t| "yes".starts_with(t) || "no".starts_with(t)), "{texts:?}");
}
