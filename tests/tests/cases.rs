//! The data-driven suite: every case file under `tests/cases/` (format in
//! `tests/cases/gbnf/literals.toml`) run through the compiled matcher.
//!
//! Every label was checked by an independent oracle (`scripts/gbnf_oracle.py`
//! for GBNF, lark itself through `scripts/lark_oracle.py` for Lark), so a
//! failure here is a disagreement with the reference implementation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use trellis_grammars::{CompiledGrammar, Config, Format};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    grammar: Option<String>,
    grammar_file: Option<String>,
    #[serde(default)]
    pass: Vec<String>,
    #[serde(default)]
    fail: Vec<String>,
    #[serde(default)]
    prefix: Vec<String>,
    #[serde(default)]
    not_prefix: Vec<String>,
    #[serde(default)]
    fail_hex: Vec<String>,
    error: Option<String>,
    #[serde(default)]
    differs: Vec<Differs>,
}

/// Where Trellis's lexing rule and lark's part ways on purpose: Trellis's
/// verdict (lark gives the other one).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Differs {
    input: String,
    expect: String,
    #[allow(dead_code)]
    why: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn case_files(folder: &str) -> Vec<PathBuf> {
    let dir = repo_root().join("tests/cases").join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    files
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex byte"))
        .collect()
}

/// Runs every case of one file; returns the number of checks and a report of
/// the failures.
fn run_file(path: &Path, folder_format: Option<Format>, failures: &mut String) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: CaseFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut checks = 0;
    for case in &file.case {
        let (grammar_text, format) = match (&case.grammar, &case.grammar_file) {
            (Some(text), None) => (text.clone(), folder_format.expect("inline grammar outside gbnf/ or lark/")),
            (None, Some(file)) => {
                let full = repo_root().join(file);
                let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
                (text, Format::from_path(&full).expect("grammar file extension"))
            }
            _ => panic!("{file_name}: case `{}` needs exactly one of grammar and grammar_file", case.name),
        };
        let compiled = CompiledGrammar::with_config(&grammar_text, format, &Config::default());
        let mut fail = |what: String| {
            let _ = writeln!(failures, "{file_name}: `{}`: {what}", case.name);
        };
        checks += 1;
        let grammar = match (compiled, &case.error) {
            (Ok(_), Some(kind)) => {
                fail(format!("compiled, expected a {kind} error"));
                continue;
            }
            (Err(error), Some(kind)) => {
                if format!("{:?}", error.kind) != *kind {
                    fail(format!("expected a {kind} error, got {:?}: {}", error.kind, error.message));
                }
                continue;
            }
            (Err(error), None) => {
                fail(format!("grammar refused: {}", error.render("grammar", &grammar_text)));
                continue;
            }
            (Ok(grammar), None) => grammar,
        };
        let mut expect = |input: &[u8], complete: Option<bool>, prefix: Option<bool>| {
            checks += 1;
            let verdict = grammar.check(input);
            let shown = String::from_utf8_lossy(input);
            if verdict.gave_up() {
                fail(format!("{shown:?}: gave up at {:?}", verdict.error_offset()));
            }
            if let Some(complete) = complete
                && verdict.is_complete() != complete
            {
                fail(format!("{shown:?}: complete = {}, expected {complete}", verdict.is_complete()));
            }
            if let Some(prefix) = prefix
                && verdict.is_prefix() != prefix
            {
                fail(format!("{shown:?}: viable prefix = {}, expected {prefix}", verdict.is_prefix()));
            }
        };
        for input in &case.pass {
            expect(input.as_bytes(), Some(true), Some(true));
        }
        for input in &case.fail {
            expect(input.as_bytes(), Some(false), None);
        }
        for input in &case.prefix {
            expect(input.as_bytes(), Some(false), Some(true));
        }
        for input in &case.not_prefix {
            expect(input.as_bytes(), Some(false), Some(false));
        }
        for hex in &case.fail_hex {
            expect(&hex_bytes(hex), Some(false), None);
        }
        for differs in &case.differs {
            let complete = match differs.expect.as_str() {
                "pass" => true,
                "fail" => false,
                other => panic!("{file_name}: `{}`: expect = {other:?}", case.name),
            };
            expect(differs.input.as_bytes(), Some(complete), None);
        }
    }
    checks
}

fn run_folder(folder: &str, format: Option<Format>, minimum_cases: usize) {
    let mut failures = String::new();
    let mut checks = 0;
    let mut cases = 0;
    for path in case_files(folder) {
        let text = std::fs::read_to_string(&path).expect("case file");
        cases += text.matches("[[case]]").count();
        checks += run_file(&path, format, &mut failures);
    }
    eprintln!("{folder}: {cases} cases, {checks} checks");
    assert!(cases >= minimum_cases, "{folder}: only {cases} cases");
    assert!(failures.is_empty(), "{folder}: failures out of {checks} checks:\n{failures}");
}

#[test]
fn gbnf_cases() {
    run_folder("gbnf", Some(Format::Gbnf), 150);
}

#[test]
fn lark_cases() {
    run_folder("lark", Some(Format::Lark), 90);
}

#[test]
fn library_cases() {
    run_folder("library", None, 9);
}
