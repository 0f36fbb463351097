//! The matcher on the bundled grammars under arbitrary operations: advance
//! in chunks, fork, roll back. A fork never changes when its sibling moves;
//! rollback returns to the state of the same prefix fed afresh.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trellis_grammars::{CompiledGrammar, Format};

// Only `exercise` is used here.
#[allow(dead_code)]
#[path = "common.rs"]
mod common;

const GRAMMARS: [(&str, Format); 9] = [
    (include_str!("../../grammars/library/json.gbnf"), Format::Gbnf),
    (include_str!("../../grammars/library/json.lark"), Format::Lark),
    (include_str!("../../grammars/library/json-array.gbnf"), Format::Gbnf),
    (include_str!("../../grammars/library/arithmetic.gbnf"), Format::Gbnf),
    (include_str!("../../grammars/library/arithmetic.lark"), Format::Lark),
    (include_str!("../../grammars/library/c-like.lark"), Format::Lark),
    (include_str!("../../grammars/library/csv.gbnf"), Format::Gbnf),
    (include_str!("../../grammars/library/chess.gbnf"), Format::Gbnf),
    (include_str!("../../grammars/library/sql-select.lark"), Format::Lark),
];

fn grammars() -> &'static Vec<CompiledGrammar> {
    static COMPILED: OnceLock<Vec<CompiledGrammar>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        GRAMMARS.iter().map(|(text, format)| CompiledGrammar::new(text, *format).expect("bundled grammar")).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let grammar = &grammars()[usize::from(selector) % GRAMMARS.len()];
    common::exercise(grammar, rest);

    // Operations: each chunk of the input is advanced; its first byte's low
    // bits pick a fork or a rollback as well.
    let mut matcher = grammar.matcher();
    let mut fed: Vec<usize> = vec![0];
    let mut text: Vec<u8> = Vec::new();
    for chunk in rest.chunks(3) {
        let fork = matcher.clone();
        let fork_complete = fork.is_complete();
        match chunk[0] % 4 {
            0 if fed.len() > 1 => {
                let steps = (usize::from(chunk[0] / 4) % fed.len()).min(matcher.rollback_available());
                matcher.rollback(steps).expect("within the history");
                fed.truncate(fed.len() - steps);
                text.truncate(*fed.last().expect("never empty"));
            }
            _ => {
                if matcher.advance(chunk).is_ok() {
                    text.extend_from_slice(chunk);
                    fed.push(text.len());
                }
            }
        }
        assert_eq!(fork.is_complete(), fork_complete, "a fork changed when its sibling moved");
        let fresh = grammar.check(&text);
        assert!(fresh.is_prefix() || fresh.gave_up(), "the matcher holds a prefix that is not viable");
        assert_eq!(matcher.is_complete(), fresh.is_complete(), "state differs from the same prefix fed afresh");
    }
});
