//! Exactness of token masks (design.md §2), both ways: on states reached by
//! random valid prefixes of every bundled grammar, the mask of a
//! [`TokenMatcher`] agrees, token by token, with the byte-level matcher fed
//! `prefix · bytes(t)` — over real vocabularies (r50k, cl100k, o200k from
//! tiktoken-rs; SmolLM2 from its GGUF) whose tokens end inside UTF-8
//! characters, span several lexemes, or are byte-fallback tokens, and over a
//! small synthetic vocabulary for many more states.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use trellis_grammars::{CompiledGrammar, Format, Matcher};
use trellis_tests::{Rng, library_grammars, random_walk};
use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, TokenSet, Tokenizer, Vocabulary};

fn grammars() -> &'static [(String, CompiledGrammar)] {
    static GRAMMARS: OnceLock<Vec<(String, CompiledGrammar)>> = OnceLock::new();
    GRAMMARS.get_or_init(|| {
        let mut grammars = library_grammars();
        // An ambiguous grammar (GLR driver) and a regex constraint.
        let extra = [
            ("ambiguous", "root ::= e\ne ::= e \"+\" e | e e | [0-9] | \"(\" e \")\" | \" \" e\n", Format::Gbnf),
            ("regex", "[a-z]+( [a-z]+)*[.!?]\n", Format::Regex),
        ];
        for (name, text, format) in extra {
            grammars.push((name.to_string(), CompiledGrammar::new(text, format).expect("extra grammar")));
        }
        grammars
    })
}

/// Real-world schemas from the JSONSchemaBench dev set (`fixtures/
/// real_schemas.jsonl`), chosen for what stresses the mask walk: thousands
/// of property names in one lazy lexer (Kubernetes), `maxLength` strings,
/// `maxLength` with an unanchored `pattern`, `patternProperties` that make
/// the grammar ambiguous (GLR), formats.
fn real_schemas() -> &'static [(String, CompiledGrammar)] {
    static SCHEMAS: OnceLock<Vec<(String, CompiledGrammar)>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let text = include_str!("fixtures/real_schemas.jsonl");
        text.lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("fixture line");
                let id = record["id"].as_str().expect("id").to_string();
                let grammar = CompiledGrammar::new(&record["schema"].to_string(), Format::JsonSchema)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                (id, grammar)
            })
            .collect()
    })
}

fn tiktoken(name: &str) -> TokenIndex {
    let tokenizer = Tokenizer::from_spec(&format!("tiktoken:{name}")).expect("embedded tiktoken encoding");
    TokenIndex::new(tokenizer.vocabulary().clone())
}

fn smollm2() -> Option<TokenIndex> {
    let path = trellis_tests::default_model()?;
    let tokenizer = Tokenizer::from_gguf(&path).expect("SmolLM2 tokenizer");
    Some(TokenIndex::new(tokenizer.vocabulary().clone()))
}

/// Tokens of 1-3 bytes over bytes that matter to the bundled grammars,
/// UTF-8 fragments included, plus byte-fallback tokens and an EOS.
fn synthetic() -> TokenIndex {
    let mut alphabet: Vec<u8> = b" \n\"{}[],:-+.0123456789aeEflnrstuxyz(*;=SELCTFROMW\\\xc3\xa9".to_vec();
    alphabet.sort_unstable();
    alphabet.dedup();
    let mut tokens: Vec<(Vec<u8>, TokenKind)> = vec![(b"<eos>".to_vec(), TokenKind::Special)];
    for &a in &alphabet {
        tokens.push((vec![a], TokenKind::Normal));
        for &b in &alphabet {
            if (a as usize * 7 + b as usize).is_multiple_of(3) {
                tokens.push((vec![a, b], TokenKind::Normal));
                for &c in alphabet.iter().step_by(5) {
                    tokens.push((vec![a, b, c], TokenKind::Normal));
                }
            }
        }
    }
    for byte in [b'a', b'{', 0xc3, 0xff] {
        tokens.push((vec![byte], TokenKind::ByteFallback));
    }
    tokens.push((b"<pad>".to_vec(), TokenKind::Special));
    let vocabulary = Vocabulary::from_tokens(tokens, vec![0], None).expect("synthetic vocabulary");
    TokenIndex::new(Arc::new(vocabulary))
}

/// A state reached by a random valid prefix of up to `len` bytes.
fn random_state(grammar: &CompiledGrammar, seed: u64, len: usize) -> Matcher {
    random_walk(grammar, &mut Rng(seed), len, 10).0
}

/// One constraint per grammar for a vocabulary, shared by every case, so
/// that cached mask parts are reused across states with different stacks.
fn constraints(index: &TokenIndex) -> Vec<TokenConstraint> {
    constraints_of(grammars(), index)
}

fn constraints_of(grammars: &[(String, CompiledGrammar)], index: &TokenIndex) -> Vec<TokenConstraint> {
    grammars.iter().map(|(_, grammar)| TokenConstraint::new(grammar, index)).collect()
}

/// The mask against the byte-level matcher, token by token.
fn check_exact(name: &str, constraint: &TokenConstraint, matcher: Matcher) -> Result<(), TestCaseError> {
    let vocabulary = constraint.index().vocabulary().clone();
    let token_matcher = constraint.matcher_from(matcher.clone());
    let mut mask = TokenSet::new(vocabulary.len());
    token_matcher.mask(&mut mask).expect("the mask is decided");
    for (token, bytes, kind) in vocabulary.iter() {
        let expected = if vocabulary.is_eos(token) {
            matcher.is_complete()
        } else {
            matches!(kind, TokenKind::Normal | TokenKind::ByteFallback) && matcher.accepts_prefix(bytes)
        };
        prop_assert_eq!(
            mask.contains(token),
            expected,
            "{}: token {} {:?} ({:?}) after {} bytes",
            name,
            token,
            String::from_utf8_lossy(bytes),
            kind,
            matcher.consumed()
        );
        if token % 97 == 0 {
            prop_assert_eq!(token_matcher.is_allowed(token).ok(), Some(expected));
        }
    }
    Ok(())
}

fn grammar_and_seed() -> impl Strategy<Value = (usize, u64, usize)> {
    (0..grammars().len(), any::<u64>(), 0usize..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn synthetic_masks_are_exact((grammar, seed, len) in grammar_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints(&synthetic()));
        let (name, compiled) = &grammars()[grammar];
        check_exact(name, &constraints[grammar], random_state(compiled, seed, len))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn r50k_masks_are_exact((grammar, seed, len) in grammar_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints(&tiktoken("r50k_base")));
        let (name, compiled) = &grammars()[grammar];
        check_exact(name, &constraints[grammar], random_state(compiled, seed, len))?;
    }

    #[test]
    fn cl100k_masks_are_exact((grammar, seed, len) in grammar_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints(&tiktoken("cl100k_base")));
        let (name, compiled) = &grammars()[grammar];
        check_exact(name, &constraints[grammar], random_state(compiled, seed, len))?;
    }

    #[test]
    fn o200k_masks_are_exact((grammar, seed, len) in grammar_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints(&tiktoken("o200k_base")));
        let (name, compiled) = &grammars()[grammar];
        check_exact(name, &constraints[grammar], random_state(compiled, seed, len))?;
    }

    #[test]
    fn smollm2_masks_are_exact((grammar, seed, len) in grammar_and_seed()) {
        static CONSTRAINTS: OnceLock<Option<Vec<TokenConstraint>>> = OnceLock::new();
        let Some(constraints) = CONSTRAINTS.get_or_init(|| smollm2().map(|index| constraints(&index))) else {
            return Ok(());
        };
        let (name, compiled) = &grammars()[grammar];
        check_exact(name, &constraints[grammar], random_state(compiled, seed, len))?;
    }
}

fn schema_and_seed() -> impl Strategy<Value = (usize, u64, usize)> {
    (0..real_schemas().len(), any::<u64>(), 0usize..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// The dev-set schemas on o200k, one constraint per schema shared by
    /// every case (so later cases meet parts cached by earlier ones).
    #[test]
    fn o200k_masks_of_real_schemas_are_exact((schema, seed, len) in schema_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints_of(real_schemas(), &tiktoken("o200k_base")));
        let (name, compiled) = &real_schemas()[schema];
        check_exact(name, &constraints[schema], random_state(compiled, seed, len))?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]
    #[test]
    fn synthetic_masks_of_real_schemas_are_exact((schema, seed, len) in schema_and_seed()) {
        static CONSTRAINTS: OnceLock<Vec<TokenConstraint>> = OnceLock::new();
        let constraints = CONSTRAINTS.get_or_init(|| constraints_of(real_schemas(), &synthetic()));
        let (name, compiled) = &real_schemas()[schema];
        check_exact(name, &constraints[schema], random_state(compiled, seed, len))?;
    }
}

/// Masks recalled from the memo of whole states equal masks computed
/// afresh: many random prefixes of each grammar (short ones often reach
/// the same state by different bytes), each mask taken twice on a shared
/// constraint — the second recalled — against a constraint that forgets
/// every state before each mask, and against the byte-level matcher.
#[test]
fn recalled_masks_equal_fresh_masks() {
    let index = synthetic();
    let vocabulary = index.vocabulary().clone();
    let mut remembered = 0;
    for (name, grammar) in grammars() {
        let remembering = TokenConstraint::new(grammar, &index);
        let forgetting = TokenConstraint::new(grammar, &index);
        let (mut recalled, mut again, mut fresh) =
            (TokenSet::new(vocabulary.len()), TokenSet::new(vocabulary.len()), TokenSet::new(vocabulary.len()));
        for seed in 0..150u64 {
            let state = random_state(grammar, seed, (seed % 12) as usize);
            remembering.matcher_from(state.clone()).mask(&mut recalled).expect("the mask is decided");
            remembering.matcher_from(state.clone()).mask(&mut again).expect("the mask is decided");
            forgetting.forget_states();
            forgetting.matcher_from(state.clone()).mask(&mut fresh).expect("the mask is decided");
            assert!(recalled == fresh && again == fresh, "{name}: seed {seed}, after {} bytes", state.consumed());
            if seed % 10 == 0 {
                check_exact(name, &remembering, state).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        remembered += remembering.cache_stats().entries() - forgetting.cache_stats().entries();
    }
    assert!(remembered > 100, "the memo was hardly used: {remembered} states");
}

/// Boundary tokens remembered under the top of a parser stack are recalled
/// for other states with that top: deep JSON states, nested in many ways,
/// whose masks must equal masks computed afresh and the byte-level
/// matcher's, while some of them (never seen as whole states) are served
/// from a stack top.
#[test]
fn masks_recalled_by_the_top_of_the_stack_are_exact() {
    // JSON's characters, and runs of up to five closing brackets (with a
    // comma or a space after): tokens that read deep into the stack.
    let mut tokens: Vec<(Vec<u8>, TokenKind)> = vec![(b"<eos>".to_vec(), TokenKind::Special)];
    tokens.extend(b" \"{}[],:-.0123456789aeflnrstux".iter().map(|&byte| (vec![byte], TokenKind::Normal)));
    let mut runs: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..5 {
        runs = runs.iter().flat_map(|run| [b']', b'}'].map(|closer| [run.as_slice(), &[closer]].concat())).collect();
        for run in &runs {
            for tail in [&b""[..], b",", b" "] {
                // Single closers are among the characters already.
                if run.len() > 1 || !tail.is_empty() {
                    tokens.push(([run.as_slice(), tail].concat(), TokenKind::Normal));
                }
            }
        }
    }
    let vocabulary = Vocabulary::from_tokens(tokens, vec![0], None).expect("closers vocabulary");
    let index = TokenIndex::new(Arc::new(vocabulary));
    let vocabulary = index.vocabulary().clone();
    let openers = ["[", "{\"a\": ", "[{\"b\": [", "{\"c\": {\"d\": ", "[1, "];
    let tails = ["", "1", "1, ", "\"x", "\"x\"", "{", "[", "true", "-0.5e", "{\"k\""];
    for (name, grammar) in grammars().iter().filter(|(name, _)| name.starts_with("json.")) {
        let remembering = TokenConstraint::new(grammar, &index);
        let forgetting = TokenConstraint::new(grammar, &index);
        let (mut recalled, mut fresh) = (TokenSet::new(vocabulary.len()), TokenSet::new(vocabulary.len()));
        let mut seen = std::collections::HashSet::new();
        let mut served_by_top = 0;
        let mut rng = Rng(0x5eed);
        for case in 0..400 {
            let depth = 1 + rng.below(14);
            let prefix: String = (0..depth).map(|_| openers[rng.below(openers.len())]).collect();
            let text = prefix + tails[rng.below(tails.len())];
            let mut state = grammar.matcher();
            state.advance(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {text:?}: {e}"));
            let before = remembering.cache_stats().memo;
            remembering.matcher_from(state.clone()).mask(&mut recalled).expect("the mask is decided");
            forgetting.forget_states();
            forgetting.matcher_from(state.clone()).mask(&mut fresh).expect("the mask is decided");
            assert!(recalled == fresh, "{name}: {text:?}");
            let new_state = state.state_key().is_some_and(|key| seen.insert(key));
            if new_state && remembering.cache_stats().memo.recalls_by_top > before.recalls_by_top {
                served_by_top += 1;
            }
            if case % 8 == 0 {
                check_exact(name, &remembering, state).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let stats = remembering.cache_stats().memo;
        assert!(stats.stack_tops > 0, "{name}: {stats:?}");
        assert!(served_by_top > 10, "{name}: only {served_by_top} new states recalled by a stack top ({stats:?})");
    }
}

/// Issue 18: a mask walk that met the lazy lexer's state limit treated the
/// tokens it could not step as refused, a silent false negative. Now a
/// limit makes the whole mask undecided ([`TokenError::GaveUp`]), and every
/// mask that is returned is exact.
#[test]
fn a_limit_makes_the_mask_undecided_never_drops_a_token() {
    use trellis_grammars::{Config, LexerLimits, MatchError};
    use trellis_token_index::TokenError;
    let config = Config { lexer: LexerLimits { lazy_states: 40, ..LexerLimits::default() }, ..Config::default() };
    let grammar = CompiledGrammar::with_config("[a-c]{0,200}x[a-c]{0,30}", Format::Regex, &config).expect("compiles");
    let texts = ["<eos>", "a", "b", "c", "x", "ab", "abc", "bca", "xa", "cx"];
    let tokens = texts
        .iter()
        .enumerate()
        .map(|(id, text)| (text.as_bytes().to_vec(), if id == 0 { TokenKind::Special } else { TokenKind::Normal }));
    let vocabulary = Vocabulary::from_tokens(tokens.collect(), vec![0], None).expect("vocabulary");
    let index = TokenIndex::new(Arc::new(vocabulary));
    let constraint = TokenConstraint::new(&grammar, &index);
    let mut matcher = constraint.matcher();
    let mut undecided = false;
    'steps: for step in 0..60 {
        let mut mask = TokenSet::new(texts.len());
        match matcher.mask(&mut mask) {
            Ok(()) => {
                for (token, text) in texts.iter().enumerate().skip(1) {
                    let expected = match matcher.byte_matcher().check(text.as_bytes()) {
                        Ok(()) => true,
                        Err(MatchError::Rejected { .. }) => false,
                        Err(limit) => panic!("step {step}: a decided mask, but {text:?} is undecided: {limit}"),
                    };
                    assert_eq!(mask.contains(token as u32), expected, "step {step}: {text:?}");
                }
            }
            Err(TokenError::GaveUp(_)) => {
                undecided = true;
                break 'steps;
            }
            Err(other) => panic!("{other}"),
        }
        match matcher.commit([1, 2, 6][step % 3]) {
            Ok(()) => {}
            Err(TokenError::GaveUp(_)) => {
                undecided = true;
                break 'steps;
            }
            Err(other) => panic!("step {step}: {other}"),
        }
    }
    assert!(undecided, "the limit of 40 lexer states is reached");
}
