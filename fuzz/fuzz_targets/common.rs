//! Shared by the grammar-format targets: compile under tight limits (a fuzz
//! input must fail fast, not exhaust memory), and when the grammar compiles,
//! run the matcher over the input itself and check that its answers agree.

use trellis_grammars::{CompiledGrammar, Config, Format, LexerLimits, LowerLimits, LrLimits, MatcherLimits};

/// `eager` picks the lexer backend: both are fuzzed.
pub fn config(eager: bool) -> Config {
    Config {
        lower: LowerLimits { max_inline_nodes: 2_000, max_productions: 2_000 },
        lexer: LexerLimits {
            eager,
            nfa_size_limit: 1 << 20,
            dfa_size_limit: 1 << 20,
            determinize_size_limit: 1 << 20,
            lazy_states: 2_000,
        },
        lr: LrLimits { max_states: 2_000 },
        matcher: MatcherLimits { max_branches: 200, max_rollback: 64, max_glr_steps: 10_000 },
    }
}

/// Compiles `data` as a grammar of `format`; errors must render (with their
/// spans inside the text) and never panic.
pub fn compile_and_run(data: &[u8], format: Format) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Odd-length inputs build the dense lexer, even-length ones the lazy one.
    match CompiledGrammar::with_config(text, format, &config(data.len() % 2 == 1)) {
        Err(error) => {
            if let Some(span) = error.span {
                assert!(span.start <= span.end && span.end <= text.len(), "span {span:?} outside the grammar");
            }
            let _ = error.render("fuzz", text);
        }
        Ok(grammar) => exercise(&grammar, data),
    }
}

/// Feeds `input` byte by byte and checks the matcher against `check`.
pub fn exercise(grammar: &CompiledGrammar, input: &[u8]) {
    let whole = grammar.check(input);
    let mut matcher = grammar.matcher();
    for (offset, &byte) in input.iter().enumerate() {
        if matcher.advance(&[byte]).is_err() {
            if !whole.gave_up() {
                assert_eq!(whole.error_offset(), Some(offset), "byte-at-a-time and whole-input checks disagree");
            }
            return;
        }
    }
    if !whole.gave_up() {
        assert!(whole.is_prefix(), "accepted byte by byte, refused at once");
        assert_eq!(matcher.is_complete(), whole.is_complete());
    }
}
