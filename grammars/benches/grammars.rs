//! Grammar benchmarks: compiling the bundled JSON grammars, and checking JSON
//! text with them (the `trellis check` path: one fresh matcher per document).
//!
//! Run with `cargo bench -p trellis-grammars --bench grammars`. Documents:
//! the valid texts of `tests/cases/json/corpus.jsonl` and the shared
//! workload `tests/workloads/json-docs.jsonl`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trellis_grammars::{CompiledGrammar, Config, Format};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn library(name: &str) -> String {
    let path = repo().join("grammars/library").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// JSON documents: lines that are JSON strings (the shared workload), or
/// corpus rows `{"text", "valid": true}`.
fn documents() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut sets = Vec::new();
    let corpus = repo().join("tests/cases/json/corpus.jsonl");
    let shared = repo().join("tests/workloads/json-docs.jsonl");
    for path in [corpus, shared] {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let docs: Vec<Vec<u8>> = text
            .split('\n')
            .filter(|line| !line.trim().is_empty())
            .filter_map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).ok()?;
                match value {
                    serde_json::Value::String(doc) => Some(doc.into_bytes()),
                    serde_json::Value::Object(row) if row.get("valid") == Some(&serde_json::Value::Bool(true)) => {
                        row.get("text")?.as_str().map(|doc| doc.as_bytes().to_vec())
                    }
                    _ => None,
                }
            })
            .collect();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        sets.push((name, docs));
    }
    sets
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for (name, format) in [("json.gbnf", Format::Gbnf), ("json.lark", Format::Lark)] {
        let text = library(name);
        group.bench_function(name, |b| {
            b.iter(|| CompiledGrammar::with_config(black_box(&text), format, &Config::default()).expect("compiles"))
        });
    }
    group.finish();
}

/// The shared workloads' regexes and schemas, compiled one by one (the
/// grammar side of the peers bench's compile column).
fn compile_workloads(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile_workloads");
    for (folder, format) in [("regex", Format::Regex), ("schemas", Format::JsonSchema)] {
        let dir = repo().join("tests/workloads").join(folder);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            group.bench_function(format!("{folder}/{name}"), |b| {
                b.iter(|| CompiledGrammar::with_config(black_box(&text), format, &Config::default()).expect("compiles"))
            });
        }
    }
    group.finish();
}

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    for grammar_name in ["json.gbnf", "json.lark"] {
        let grammar =
            CompiledGrammar::from_file(&repo().join("grammars/library").join(grammar_name), None, &Config::default())
                .expect("compiles");
        for (docs_name, docs) in documents() {
            let bytes: usize = docs.iter().map(Vec::len).sum();
            for doc in &docs {
                assert!(grammar.accepts(doc), "{grammar_name} refuses {}", String::from_utf8_lossy(doc));
            }
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(format!("{grammar_name}/{docs_name}"), |b| {
                b.iter(|| docs.iter().filter(|doc| grammar.accepts(black_box(doc))).count())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, compile, compile_workloads, check);
criterion_main!(benches);
