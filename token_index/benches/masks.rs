//! Per-token masks on real documents: o200k, the bundled JSON grammars
//! (GBNF and Lark) and the shared JSON documents, every state a document's
//! tokens pass through, caches warm (as after the first few documents of a
//! run, or after loading an index file from `trellis compile`).
//!
//! ```text
//! cargo bench -p trellis-token-index --bench masks
//! ```
//!
//! The figure is the time of one pass over all states divided by the
//! number of states: the mean mask time. `pass` times a pass as `trellis
//! bench` does (states met earlier in the pass are recalled from the
//! constraint's memo of whole states, emptied before each pass);
//! `fresh_states` empties the memo before every mask, so that each one
//! steps its boundary groups against the parser. `trellis bench` reports
//! the percentiles of the first.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenIndex, TokenMatcher, TokenSet, Tokenizer};

const DOCS: &str = include_str!("../../tests/workloads/json-docs.jsonl");

fn states(constraint: &TokenConstraint, tokenizer: &Tokenizer) -> Vec<TokenMatcher> {
    let mut states = Vec::new();
    for line in DOCS.lines().filter(|line| !line.trim().is_empty()) {
        let text = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::String(text)) => text,
            Ok(serde_json::Value::Object(row)) => match row.get("text").and_then(|text| text.as_str()) {
                Some(text) => text.to_string(),
                None => continue,
            },
            _ => continue,
        };
        let Ok(ids) = tokenizer.encode(&text) else { continue };
        let mut matcher = constraint.matcher();
        for id in ids {
            states.push(matcher.clone());
            if matcher.commit(id).is_err() {
                break;
            }
        }
    }
    states
}

fn masks(c: &mut Criterion) {
    let Ok(tokenizer) = Tokenizer::from_spec("tiktoken:o200k_base") else { return };
    let index = TokenIndex::new(tokenizer.vocabulary().clone());
    let mut group = c.benchmark_group("mask_o200k_json_docs");
    for (name, text, format) in [
        ("json.gbnf", include_str!("../../grammars/library/json.gbnf"), Format::Gbnf),
        ("json.lark", include_str!("../../grammars/library/json.lark"), Format::Lark),
    ] {
        let Ok(grammar) = CompiledGrammar::new(text, format) else { continue };
        let constraint = TokenConstraint::new(&grammar, &index);
        constraint.precompute(|_, _| {});
        let states = states(&constraint, &tokenizer);
        let mut mask = TokenSet::new(index.vocabulary().len());
        // Warm the subtree caches too.
        for state in &states {
            state.mask(&mut mask).expect("the mask is decided");
        }
        group.throughput(Throughput::Elements(states.len() as u64));
        // One pass as `trellis bench` times it: whole states remembered
        // within the pass, none carried over from the pass before.
        group.bench_function(format!("{name}/pass"), |b| {
            b.iter(|| {
                constraint.forget_states();
                for state in &states {
                    state.mask(&mut mask).expect("the mask is decided");
                    black_box(&mask);
                }
            })
        });
        // Every state as if met for the first time: the boundary groups
        // stepped against the parser each time.
        group.bench_function(format!("{name}/fresh_states"), |b| {
            b.iter(|| {
                for state in &states {
                    constraint.forget_states();
                    state.mask(&mut mask).expect("the mask is decided");
                    black_box(&mask);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, masks);
criterion_main!(benches);
