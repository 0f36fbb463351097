//! Properties of the byte-level matcher (design.md §2), on every bundled
//! grammar and on ambiguous grammars that need the GLR driver:
//!
//! * no dead ends: a viable prefix always has a next byte, or is complete;
//! * every prefix of an accepted string is viable, and a matcher fed a string
//!   one byte at a time agrees with one fed it at once;
//! * forks are independent: advancing one never changes the other;
//! * rollback restores the exact state;
//! * the [`ByteWalker`] (the mask walk) agrees with the matcher on every
//!   string of a prefix tree.
//!
//! Strings come from random walks through the matcher itself (each step picks
//! a random viable byte), so they reach deep into every grammar; the state of
//! a matcher is compared through what it answers: completeness and the set
//! of viable next bytes and byte pairs.

use std::sync::OnceLock;

use proptest::prelude::*;
use trellis_grammars::walk::ByteWalker;
use trellis_grammars::{CompiledGrammar, Format, Matcher};
use trellis_tests::{Rng, library_grammars, viable_bytes};

/// The bundled grammars, and ambiguous ones for the GLR driver.
fn grammars() -> &'static [(String, CompiledGrammar)] {
    static GRAMMARS: OnceLock<Vec<(String, CompiledGrammar)>> = OnceLock::new();
    GRAMMARS.get_or_init(|| {
        let mut grammars = library_grammars();
        let ambiguous = [
            "root ::= expr\nexpr ::= expr \"+\" expr | expr expr | [0-9] | \"(\" expr \")\"\n",
            "root ::= s \".\"\ns ::= s s | \"a\" | \"ab\" | \"\"\n",
            "root ::= (list | item) \";\"\nlist ::= item | list \",\" item | list \",\" list\nitem ::= [a-c]+\n",
        ];
        for (index, text) in ambiguous.iter().enumerate() {
            let grammar = CompiledGrammar::new(text, Format::Gbnf).expect("ambiguous grammar");
            assert!(!grammar.conflicts().is_empty(), "ambiguous grammar {index} has no conflicts");
            grammars.push((format!("ambiguous-{index}"), grammar));
        }
        assert!(grammars.len() >= 12, "expected the bundled library and the ambiguous grammars");
        grammars
    })
}

/// What a matcher answers, as far as a test can see: completeness, the
/// viable next bytes, and for a few of them the viable byte after.
fn observe(matcher: &Matcher) -> (bool, Vec<u8>, Vec<Vec<u8>>) {
    let next = viable_bytes(matcher);
    let after = next
        .iter()
        .take(4)
        .map(|&first| (0..=255u8).filter(|&second| matcher.accepts_prefix(&[first, second])).collect())
        .collect();
    (matcher.is_complete(), next, after)
}

/// A random walk of up to `max_len` bytes (see
/// [`trellis_tests::random_walk`]).
fn random_walk(grammar: &CompiledGrammar, rng: &mut Rng, max_len: usize) -> Vec<u8> {
    trellis_tests::random_walk(grammar, rng, max_len, 8).1
}

fn grammar_and_seed() -> impl Strategy<Value = (usize, u64, usize)> {
    (0..grammars().len(), any::<u64>(), 1usize..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prefixes_of_walks_are_viable_and_steps_compose((index, seed, len) in grammar_and_seed()) {
        let (name, grammar) = &grammars()[index];
        let mut rng = Rng(seed);
        let text = random_walk(grammar, &mut rng, len);
        let whole = grammar.check(&text);
        prop_assert!(whole.is_prefix(), "{name}: walk {:?} not viable at once", String::from_utf8_lossy(&text));
        // The same text in random chunks ends in the same state.
        let mut chunked = grammar.matcher();
        let mut start = 0;
        while start < text.len() {
            let end = (start + 1 + rng.below(6)).min(text.len());
            prop_assert!(chunked.advance(&text[start..end]).is_ok());
            start = end;
        }
        prop_assert_eq!(chunked.is_complete(), whole.is_complete(), "{}", name);
        for cut in 0..=text.len() {
            prop_assert!(grammar.check(&text[..cut]).is_prefix(), "{name}: prefix of a walk not viable");
        }
    }

    #[test]
    fn forks_are_independent((index, seed, len) in grammar_and_seed()) {
        let (name, grammar) = &grammars()[index];
        let mut rng = Rng(seed);
        let text = random_walk(grammar, &mut rng, len);
        let cut = rng.below(text.len() + 1);
        let mut original = grammar.matcher();
        original.advance(&text[..cut]).expect("viable");
        let before = observe(&original);
        let mut fork = original.clone();
        fork.advance(&text[cut..]).expect("viable");
        // Drive the fork further, through rollbacks and rejected bytes.
        let _ = fork.advance(b"\xff\x00");
        let _ = fork.rollback(1);
        prop_assert_eq!(observe(&original), before, "{}: advancing a fork changed the original", name);
        // And the other way round.
        let fork_state = observe(&fork);
        let _ = original.advance(&text[cut..]);
        original.reset();
        prop_assert_eq!(observe(&fork), fork_state, "{}: resetting the original changed a fork", name);
    }

    #[test]
    fn rollback_restores_the_exact_state((index, seed, len) in grammar_and_seed()) {
        let (name, grammar) = &grammars()[index];
        let mut rng = Rng(seed);
        let text = random_walk(grammar, &mut rng, len);
        let mut matcher = grammar.matcher();
        let mut cuts = vec![0];
        let mut start = 0;
        while start < text.len() {
            let end = (start + 1 + rng.below(5)).min(text.len());
            matcher.advance(&text[start..end]).expect("viable");
            cuts.push(end);
            start = end;
        }
        let steps = rng.below(cuts.len());
        matcher.rollback(steps).expect("within the history");
        let kept = cuts[cuts.len() - 1 - steps];
        prop_assert_eq!(matcher.consumed(), kept as u64);
        let mut fresh = grammar.matcher();
        fresh.advance(&text[..kept]).expect("viable");
        prop_assert_eq!(observe(&matcher), observe(&fresh), "{}: rollback({}) differs from a fresh matcher", name, steps);
    }

    #[test]
    fn byte_walker_agrees_with_the_matcher((index, seed, len) in grammar_and_seed()) {
        let (name, grammar) = &grammars()[index];
        let mut rng = Rng(seed);
        let text = random_walk(grammar, &mut rng, len);
        let cut = rng.below(text.len() + 1);
        let mut matcher = grammar.matcher();
        matcher.advance(&text[..cut]).expect("viable");
        // A small alphabet: the walk's next bytes, bytes of the grammar's
        // strings, and a few others; every string of length <= 3 over it.
        let mut alphabet: Vec<u8> = text[cut..].iter().copied().take(4).collect();
        alphabet.extend((0..4).map(|_| text.get(rng.below(text.len().max(1))).copied().unwrap_or(b'a')));
        alphabet.extend([b' ', b'"', b'0', b'x', 0xC3, 0xA9]);
        alphabet.sort_unstable();
        alphabet.dedup();
        let mut walker = ByteWalker::new(&matcher);
        let mut path: Vec<u8> = Vec::new();
        // Pre-order over the tree, skipping the subtrees the walker prunes.
        fn visit(
            walker: &mut ByteWalker,
            matcher: &Matcher,
            alphabet: &[u8],
            path: &mut Vec<u8>,
            name: &str,
        ) -> Result<(), TestCaseError> {
            for &byte in alphabet {
                path.push(byte);
                let viable = walker.enter(path.len(), byte);
                prop_assert_eq!(viable, matcher.accepts_prefix(path), "{}: walker vs matcher on {:?}", name, path);
                if viable {
                    let mut fed = matcher.clone();
                    fed.advance(path).expect("viable");
                    prop_assert_eq!(walker.is_complete(), fed.is_complete(), "{}: completeness of {:?}", name, path);
                    if path.len() < 3 {
                        visit(walker, matcher, alphabet, path, name)?;
                    }
                }
                path.pop();
            }
            Ok(())
        }
        visit(&mut walker, &matcher, &alphabet, &mut path, name)?;
    }
}
