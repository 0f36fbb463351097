//! What a new user met (issue 15), one test per finding, on the built
//! binary: exit codes, messages, output shape, and the conveniences.
//! Tests that run the default model generate a handful of tokens; they
//! fail when it is missing unless `TRELLIS_SKIP_MODEL_TESTS=1`.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{text, trellis};
use trellis_tests::default_model;

const DIGITS: [&str; 4] = ["--grammar-text", "[0-9]{3}", "--format", "regex"];
const PROMPT: [&str; 2] = ["--prompt", "Pick a number between 100 and 999."];

fn generate(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["generate", "--max-tokens", "6"];
    args.extend(DIGITS);
    args.extend(extra);
    trellis(&args, b"")
}

/// A temporary folder of this test binary, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("trellis-new-user-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn d5_a_verifier_that_cannot_run_or_hangs_is_an_error() {
    if default_model().is_none() {
        return;
    }
    let missing = generate(&["--verify", "/no/such/checker", "--prompt", "x"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("command not found"), "{}", text(&missing.stderr));
    let started = std::time::Instant::now();
    let hanging = generate(&["--verify", "sleep 30", "--verify-timeout", "0.5", "--prompt", "x"]);
    assert_eq!(hanging.status.code(), Some(2), "{}", text(&hanging.stderr));
    assert!(text(&hanging.stderr).contains("no verdict within 0.5 s"), "{}", text(&hanging.stderr));
    assert!(started.elapsed().as_secs() < 25, "the timeout did not stop the verifier");
    // A verifier that always refuses ends with a bounded number of tries.
    let refusing = generate(&["--verify", "false", "--max-tries", "3", "--prompt", "x"]);
    assert_eq!(refusing.status.code(), Some(1), "{}", text(&refusing.stderr));
    assert!(text(&refusing.stderr).contains("no accepted output after 3 tries"), "{}", text(&refusing.stderr));
}

#[test]
fn d6_settings_that_cannot_fit_in_memory_are_refused_with_the_figure() {
    if default_model().is_none() {
        return;
    }
    let out = generate(&["--sampler", "smc", "--particles", "65536", "--prompt", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("65536 model sequences") && text(&out.stderr).contains("GB"));
    let limited = generate(&["--sampler", "smc", "--particles", "64", "--memory-limit", "1", "--prompt", "x"]);
    assert_eq!(limited.status.code(), Some(2), "{}", text(&limited.stderr));
    assert!(text(&limited.stderr).contains("--memory-limit"), "{}", text(&limited.stderr));
}

#[test]
fn d7_stdout_holds_exactly_the_generated_text() {
    if default_model().is_none() {
        return;
    }
    let out = generate(&PROMPT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.len() == 3 && out.stdout.iter().all(u8::is_ascii_digit), "{:?}", text(&out.stdout));
    let mut args = vec!["check"];
    args.extend(DIGITS);
    let check = trellis(&args, &out.stdout);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn d8_explain_writes_to_stderr() {
    let out = trellis(&["check", "--grammar", "grammars/library/json.gbnf", "--explain", "--jsonl"], b"\"[1]\"\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).lines().count(), 1, "{}", text(&out.stdout));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("only the verdict on stdout");
    assert_eq!(line["complete"], true);
    assert!(text(&out.stderr).contains("LR(1) states"), "{}", text(&out.stderr));
}

#[test]
fn d9_d12_every_sample_reports_its_outcome_and_the_stats_are_real() {
    if default_model().is_none() {
        return;
    }
    let scratch = Scratch::new("d9");
    let stats = scratch.0.join("stats.json");
    let stats = stats.to_str().expect("utf-8");
    let mut args = vec!["--max-tokens", "1", "--samples", "3", "--output", "jsonl", "--stats", stats];
    args.extend(PROMPT);
    let mut full = vec!["generate"];
    full.extend(DIGITS);
    full.extend(args);
    let out = trellis(&full, b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
    assert_eq!(lines.len(), 3, "{}", text(&out.stdout));
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["sample"], index);
        assert_eq!(line["finished"], false);
        assert_eq!(line["finish_reason"], "max_tokens");
        assert_eq!(line["text"].as_str().map(str::len), Some(1), "{line}");
        assert!(line["error"].as_str().is_some_and(|e| e.contains("--max-tokens")), "{line}");
    }
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stats).expect("stats")).expect("JSON stats");
    assert_eq!(stats["finished"], false);
    assert_eq!(stats["finish_reasons"], serde_json::json!(["max_tokens", "max_tokens", "max_tokens"]));
    assert!(stats["model_calls"].as_u64().is_some_and(|calls| calls >= 3), "{stats}");
    assert!(stats["timings"]["model_seconds"].as_f64().is_some_and(|s| s > 0.0), "{stats}");
}

#[test]
fn d11_a_closed_stdout_ends_the_run_quietly() {
    let mut input = String::new();
    for _ in 0..200_000 {
        input.push_str("\"[1, 2, 3]\"\n");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["check", "--grammar", "grammars/library/json.gbnf", "--jsonl"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trellis");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut first = [0u8; 10];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("some output");
    // The read end is closed now.
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("error"), "{}", text(&out.stderr));
}

#[test]
fn d13_output_paths_are_checked_before_any_work() {
    let started = std::time::Instant::now();
    let mut args = vec!["generate", "--stats", "/proc/nope/x.json", "--model", "/no/such/model.gguf"];
    args.extend(DIGITS);
    args.extend(PROMPT);
    let out = trellis(&args, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--stats /proc/nope/x.json"), "{}", text(&out.stderr));
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn d14_usage_errors_have_their_own_exit_code() {
    let missing = trellis(&["check"], b"");
    assert_eq!(missing.status.code(), Some(64), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("a grammar is required"));
    let unknown = trellis(&["check", "--grammar", "grammars/library/json.gbnf", "--no-such-flag"], b"");
    assert_eq!(unknown.status.code(), Some(64));
    // An invalid grammar is invalid input, not usage.
    let invalid = trellis(&["check", "--grammar-text", "root ::= (", "--format", "gbnf"], b"");
    assert_eq!(invalid.status.code(), Some(2));
    assert_eq!(trellis(&["--help"], b"").status.code(), Some(0));
}

#[test]
fn d16_negative_numbers_are_values_then_validated() {
    let out = trellis(&["generate", "--temperature", "-1", "--prompt", "x"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("temperature must be ≥ 0, not -1"), "{}", text(&out.stderr));
}

#[test]
fn d18_options_that_do_not_apply_are_refused_before_loading() {
    // A model path that does not exist: the refusal must come first.
    let absent = ["--model", "/no/such/model.gguf", "--prompt", "x"];
    for (extra, expected) in [
        (&["--reward", "7"][..], "--reward applies to --sampler tsmc and best-of-k only, not masked"),
        (&["--sampler", "smc", "--max-tries", "9"][..], "--max-tries applies to --sampler masked and rejection only"),
        (&["--particles", "4"][..], "--particles applies to --sampler smc and tsmc only"),
        (&["--max-tokens", "0"][..], "--max-tokens must be at least 1"),
        (&["--verify-timeout", "3"][..], "--verify-timeout applies with --verify only"),
        (&["--sampler", "smc", "--ess-threshold", "2"][..], "ESS threshold must be in [0, 1]"),
    ] {
        let mut args = vec!["generate"];
        args.extend(extra);
        args.extend(absent);
        let out = trellis(&args, b"");
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(expected), "{extra:?}: {}", text(&out.stderr));
    }
    let lenient_regex = trellis(&["check", "--grammar-text", "a+", "--format", "regex", "--lenient"], b"a");
    assert_eq!(lenient_regex.status.code(), Some(2));
    assert!(text(&lenient_regex.stderr).contains("--lenient applies to JSON Schemas only"));
    let docs = "tests/workloads/json-docs.jsonl";
    let repeat = trellis(
        &[
            "bench",
            "--grammar",
            "grammars/library/json.gbnf",
            "--tokenizer",
            "tiktoken:r50k_base",
            "--docs",
            docs,
            "--repeat",
            "0",
        ],
        b"",
    );
    assert_eq!(repeat.status.code(), Some(2));
    assert!(text(&repeat.stderr).contains("--repeat must be at least 1"));
}

#[test]
fn d19_an_index_without_precomputed_masks_says_why() {
    let scratch = Scratch::new("d19");
    let output = scratch.0.join("blowup.idx");
    let out = trellis(
        &[
            "compile",
            "--grammar-text",
            "[ab]*a[ab]{24}",
            "--format",
            "regex",
            "--tokenizer",
            "tiktoken:r50k_base",
            "-o",
            output.to_str().expect("utf-8"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: the index holds no precomputed masks"), "{}", text(&out.stderr));
}

#[test]
fn d20_messages_say_what_and_where_in_the_users_terms() {
    let scratch = Scratch::new("d20");
    // A GBNF file read as Lark.
    let lark = trellis(&["check", "--grammar", "grammars/library/json.gbnf", "--format", "lark"], b"1");
    assert_eq!(lark.status.code(), Some(2));
    assert!(text(&lark.stderr).contains("looks like gbnf"), "{}", text(&lark.stderr));
    // An index file passed as a grammar.
    let index = scratch.file("json.idx", b"TRLSIDX\0\x01\x00\x00\x00\xff\xfe");
    let as_grammar = trellis(&["check", "--grammar", &index, "--format", "gbnf"], b"");
    assert_eq!(as_grammar.status.code(), Some(2));
    assert!(text(&as_grammar.stderr).contains("pass it as --index"), "{}", text(&as_grammar.stderr));
    // compile -o into a folder that does not exist names the file asked for.
    let nowhere = scratch.0.join("no/such/dir/x.idx");
    let nowhere = nowhere.to_str().expect("utf-8");
    let compile = trellis(
        &["compile", "--grammar-text", "a+", "--format", "regex", "--tokenizer", "tiktoken:r50k_base", "-o", nowhere],
        b"",
    );
    assert_eq!(compile.status.code(), Some(2));
    assert!(
        text(&compile.stderr).contains(nowhere) && !text(&compile.stderr).contains(".tmp"),
        "{}",
        text(&compile.stderr)
    );
    // Singular and the first byte.
    let one = trellis(&["check", "--grammar-text", "ab", "--format", "regex"], b"a");
    assert!(text(&one.stdout).contains("(1 byte)"), "{}", text(&one.stdout));
    let first = trellis(&["check", "--grammar-text", "ab", "--format", "regex"], b"x");
    assert!(text(&first.stdout).contains("the input cannot start with 'x'"), "{}", text(&first.stdout));
    // An empty model file.
    let empty = scratch.file("empty.gguf", b"");
    let model = trellis(&["generate", "--model", &empty, "--prompt", "x"], b"");
    assert_eq!(model.status.code(), Some(2));
    assert!(text(&model.stderr).contains("the file is empty"), "{}", text(&model.stderr));
    // A tokenizer error names the path once.
    let tokenizer = trellis(&["mask", "--grammar-text", "a", "--format", "regex", "--tokenizer", &empty], b"");
    assert_eq!(tokenizer.status.code(), Some(2));
    assert_eq!(text(&tokenizer.stderr).matches(&empty).count(), 1, "{}", text(&tokenizer.stderr));
}

#[test]
fn prompts_come_from_files_stdin_and_message_lists() {
    if default_model().is_none() {
        return;
    }
    let scratch = Scratch::new("prompts");
    let prompt = scratch.file("prompt.txt", b"Pick a number between 100 and 999.");
    let from_file = generate(&["-f", &prompt]);
    assert_eq!(from_file.status.code(), Some(0), "{}", text(&from_file.stderr));
    let mut args = vec!["generate", "--max-tokens", "6", "--prompt", "-", "--system", "You answer with numbers."];
    args.extend(DIGITS);
    let from_stdin = trellis(&args, b"Pick a number between 100 and 999.");
    assert_eq!(from_stdin.status.code(), Some(0), "{}", text(&from_stdin.stderr));
    assert_eq!(from_stdin.stdout.len(), 3);
    let messages = scratch.file(
        "messages.json",
        br#"{"messages": [{"role": "system", "content": "Numbers only."}, {"role": "user", "content": "Pick one."}]}"#,
    );
    let from_messages = generate(&["--messages", &messages]);
    assert_eq!(from_messages.status.code(), Some(0), "{}", text(&from_messages.stderr));
    let bad = scratch.file("bad.json", br#"[{"role": "robot", "content": "x"}]"#);
    let refused = generate(&["--messages", &bad]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("message 0 has role \"robot\""), "{}", text(&refused.stderr));
    let both = trellis(&["generate", "--prompt", "x", "--messages", &messages], b"");
    assert_eq!(both.status.code(), Some(64));
}

#[test]
fn json_output_has_the_samples_and_the_figures() {
    if default_model().is_none() {
        return;
    }
    let mut args = vec!["--output", "json", "--samples", "2", "--sampler", "smc", "--particles", "2"];
    args.extend(PROMPT);
    let out = generate(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let object: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(object["outputs"].as_array().map(Vec::len), Some(2));
    assert_eq!(object["finished"], true);
    assert!(object["log_z"].as_f64().is_some_and(|z| z <= 0.0), "{object}");
    assert!(object["usage"]["prompt_tokens"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn json_schema_shorthands_files_and_validation() {
    let scratch = Scratch::new("schemas");
    let schema = r#"{"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["age"]}"#;
    let inline = trellis(&["check", "--json-schema", schema], br#"{"age": 3}"#);
    assert_eq!(inline.status.code(), Some(0), "{}", text(&inline.stdout));
    // A .json file that holds a schema is one.
    let file = scratch.file("person.json", schema.as_bytes());
    let by_content = trellis(&["check", "--grammar", &file], br#"{"age": 3}"#);
    assert_eq!(by_content.status.code(), Some(0), "{}{}", text(&by_content.stdout), text(&by_content.stderr));
    let explicit = trellis(&["check", "--json-schema-file", &file], br#"{"age": -1}"#);
    assert_eq!(explicit.status.code(), Some(1));
    // Layout: compact by default, any whitespace when flexible.
    let spaced = b"{\n  \"age\": 3\n}";
    assert_eq!(trellis(&["check", "--json-schema", schema], spaced).status.code(), Some(1));
    let flexible = trellis(&["check", "--json-schema", schema, "--whitespace", "flexible"], spaced);
    assert_eq!(flexible.status.code(), Some(0), "{}", text(&flexible.stdout));
    // --validate judges the meaning, whatever the layout.
    let valid = trellis(&["check", "--json-schema", schema, "--validate"], spaced);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid.stdout));
    assert!(text(&valid.stdout).contains("valid: the document validates"), "{}", text(&valid.stdout));
    let invalid = trellis(&["check", "--json-schema", schema, "--validate"], br#"{"age": -1}"#);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(text(&invalid.stdout).contains("invalid: at \"/age\""), "{}", text(&invalid.stdout));
    let lines = trellis(&["check", "--json-schema", schema, "--validate", "--jsonl"], b"\"{\\\"age\\\": -1}\"\n");
    let line: serde_json::Value = serde_json::from_slice(&lines.stdout).expect("JSON line");
    assert_eq!(line["valid"], false);
    assert_eq!(line["complete"], false);
    let not_schema = trellis(&["check", "--grammar-text", "a", "--format", "regex", "--validate"], b"a");
    assert_eq!(not_schema.status.code(), Some(2));
}

#[test]
fn ascii_classes_and_schema_typos() {
    let arabic_three = "٣".as_bytes();
    let unicode = trellis(&["check", "--grammar-text", r"\d", "--format", "regex"], arabic_three);
    assert_eq!(unicode.status.code(), Some(0));
    let ascii = trellis(&["check", "--grammar-text", r"\d", "--format", "regex", "--ascii-classes"], arabic_three);
    assert_eq!(ascii.status.code(), Some(1));
    let not_regex = trellis(&["check", "--json-schema", "{}", "--ascii-classes"], b"{}");
    assert_eq!(not_regex.status.code(), Some(2));
    let typo = trellis(&["check", "--json-schema", r#"{"type": "object", "requried": ["a"]}"#], b"{}");
    assert_eq!(typo.status.code(), Some(0));
    assert!(text(&typo.stderr).contains("did you mean `required`?"), "{}", text(&typo.stderr));
}
