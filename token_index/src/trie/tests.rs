use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::vocab::{TokenKind, Tokenizer};

fn vocabulary(tokens: &[(&[u8], TokenKind)]) -> Vocabulary {
    Vocabulary::from_tokens(tokens.iter().map(|&(b, k)| (b.to_vec(), k)).collect(), vec![], None)
        .expect("valid vocabulary")
}

/// Every `(depth, byte)` the walk enters and every token it reports, with
/// the prefix the walker reconstructs from `depth` checked against the
/// token's bytes: this is the state-stack contract of [`TokenTrie::walk`].
fn walk_checked(
    trie: &TokenTrie,
    vocabulary: &Vocabulary,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> (Vec<Vec<u8>>, Vec<TokenId>) {
    let mut path: Vec<u8> = Vec::new();
    let mut entered = Vec::new();
    let mut reported = Vec::new();
    // `enter` holds `path` mutably, so it leaves a copy of the last prefix
    // it entered for `on_token`, which runs before the next `enter`.
    let last_entered = std::cell::RefCell::new(Vec::new());
    trie.walk(
        |depth, byte| {
            assert!(depth >= 1 && depth <= path.len() + 1, "depth {depth} after {path:?}");
            path.truncate(depth - 1);
            path.push(byte);
            entered.push(path.clone());
            let keep = keep(&path);
            if keep {
                last_entered.replace(path.clone());
            }
            keep
        },
        |token| {
            assert_eq!(
                vocabulary.token_bytes(token),
                Some(last_entered.borrow().as_slice()),
                "token {token} reported at the wrong node"
            );
            reported.push(token);
        },
    );
    (entered, reported)
}

#[test]
fn walks_in_byte_order_and_prunes_subtrees() {
    let v = vocabulary(&[
        (b"b", TokenKind::Normal),
        (b"ab", TokenKind::Normal),
        (b"abc", TokenKind::Normal),
        (b"a", TokenKind::Normal),
        (b"ac", TokenKind::Normal),
        (b"\xff", TokenKind::Normal),
    ]);
    let trie = TokenTrie::new(&v);
    assert_eq!(trie.num_nodes(), 6);
    assert_eq!(trie.num_tokens(), 6);
    assert_eq!(trie.max_depth(), 3);
    assert_eq!(trie.vocabulary_len(), 6);
    assert_eq!(trie.vocabulary_fingerprint(), v.fingerprint());

    let (entered, reported) = walk_checked(&trie, &v, |_| true);
    let entered: Vec<&[u8]> = entered.iter().map(Vec::as_slice).collect();
    assert_eq!(entered, [&b"a"[..], b"ab", b"abc", b"ac", b"b", b"\xff"], "pre-order, children by byte");
    assert_eq!(reported, [3, 1, 2, 4, 0, 5]);

    // Pruning "ab" skips "abc" but not its sibling "ac".
    let (entered, reported) = walk_checked(&trie, &v, |p| p != b"ab");
    assert_eq!(entered.len(), 5);
    assert_eq!(reported, [3, 4, 0, 5]);
    // Pruning at the first byte skips everything under it.
    let (_, reported) = walk_checked(&trie, &v, |p| p[0] != b'a');
    assert_eq!(reported, [0, 5]);
}

#[test]
fn special_and_unused_tokens_are_left_out_and_byte_fallback_shares_nodes() {
    let v = vocabulary(&[
        (b"<s>", TokenKind::Special),
        (b"</s>", TokenKind::Special),
        (b"", TokenKind::Unused),
        (b"<unused0>", TokenKind::Unused),
        (b"a", TokenKind::Normal),
        (b"a", TokenKind::ByteFallback),
        (b"\n", TokenKind::ByteFallback),
        (b" <s>", TokenKind::Normal),
    ]);
    let trie = TokenTrie::new(&v);
    assert_eq!(trie.num_tokens(), 4);
    assert_eq!(trie.num_nodes(), 6, "' ', ' <', ' <s', ' <s>', a; then \\n");
    let (_, reported) = walk_checked(&trie, &v, |_| true);
    // The text section first (" <s>", then "a" twice), then the rest
    // ("\n", a control byte).
    assert_eq!(reported, [7, 4, 5, 6]);
}

#[test]
fn empty_vocabulary_walks_nothing() {
    let v = vocabulary(&[(b"<s>", TokenKind::Special)]);
    let trie = TokenTrie::new(&v);
    assert_eq!((trie.num_nodes(), trie.num_tokens(), trie.max_depth()), (0, 0, 0));
    trie.walk(|_, _| panic!("no nodes"), |_| panic!("no tokens"));
    let empty = TokenTrie::new(&vocabulary(&[]));
    assert_eq!(empty.vocabulary_len(), 0);
}

#[test]
fn trie_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TokenTrie>();
}

/// Every text token of a real vocabulary, exactly once.
fn assert_enumerates_text_tokens(vocabulary: &Vocabulary, name: &str) -> TokenTrie {
    let trie = TokenTrie::new(vocabulary);
    let expected: Vec<TokenId> = vocabulary.iter().filter(|(_, _, kind)| kind.is_text()).map(|(id, _, _)| id).collect();
    let mut reported = Vec::with_capacity(expected.len());
    trie.walk(|_, _| true, |token| reported.push(token));
    reported.sort_unstable();
    assert_eq!(reported, expected, "{name}");
    trie
}

#[test]
fn o200k_trie_holds_every_text_token() {
    let tokenizer = Tokenizer::tiktoken("o200k_base").expect("built in");
    let trie = assert_enumerates_text_tokens(tokenizer.vocabulary(), "o200k_base");
    assert_eq!(trie.num_tokens(), 199_998);
    // The walk prunes by first byte: only tokens starting with '{'.
    let mut count = 0;
    trie.walk(|depth, byte| depth > 1 || byte == b'{', |_| count += 1);
    let expected = tokenizer.vocabulary().iter().filter(|(_, b, k)| k.is_text() && b.first() == Some(&b'{')).count();
    assert_eq!(count, expected);
}

#[test]
fn smollm2_trie_holds_every_text_token() {
    let Some(path) = trellis_tests::default_model() else {
        return;
    };
    let tokenizer = Tokenizer::from_gguf(&path).expect("SmolLM2 loads");
    let trie = assert_enumerates_text_tokens(tokenizer.vocabulary(), "SmolLM2");
    // 49,152 ids, of which the 17 control tokens are Special.
    assert_eq!(trie.num_tokens(), 49_152 - 17);
}

/// Small vocabularies over a 4-byte alphabet (including a UTF-8 lead byte
/// and 0xFF), so that prefixes are shared a lot; some tokens Special, some
/// single bytes ByteFallback twins of Normal tokens.
fn arb_vocabulary() -> impl Strategy<Value = Vocabulary> {
    let alphabet = prop::sample::select(vec![b'a', b'b', 0xE2, 0xFF]);
    let token = prop::collection::vec(alphabet, 1..6);
    let kind = prop::sample::select(vec![
        TokenKind::Normal,
        TokenKind::Normal,
        TokenKind::Normal,
        TokenKind::Special,
        TokenKind::Unused,
    ]);
    (prop::collection::vec((token, kind), 0..40), any::<bool>()).prop_map(|(tokens, byte_fallback)| {
        let mut seen = BTreeSet::new();
        let mut list: Vec<(Vec<u8>, TokenKind)> = tokens
            .into_iter()
            // Normal tokens must be distinct; make later repeats Special.
            .map(|(bytes, kind)| {
                if kind == TokenKind::Normal && !seen.insert(bytes.clone()) {
                    (bytes, TokenKind::Special)
                } else {
                    (bytes, kind)
                }
            })
            .collect();
        if byte_fallback {
            for byte in [b'a', 0xE2] {
                list.push((vec![byte], TokenKind::ByteFallback));
            }
        }
        Vocabulary::from_tokens(list, vec![], None).expect("distinct Normal tokens")
    })
}

/// An arbitrary prefix predicate: a salted FNV hash of the prefix.
fn passes(prefix: &[u8], salt: u64, keep_one_in: u64) -> bool {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ salt;
    for &byte in prefix {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    !hash.is_multiple_of(keep_one_in)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// What a mask takes from the text section: the set of text tokens up
    /// to a length, and a walk of the rest of that section that skips the
    /// subtrees with nothing longer; together with the rest section they
    /// are exactly the tokens whose prefixes all pass, for a predicate that
    /// passes every text prefix up to that length (as
    /// `CompiledGrammar::inside_depth` guarantees).
    #[test]
    fn text_sets_and_walks_beyond_them_cover_exactly_the_passing_tokens(
        v in arb_vocabulary(),
        salt in any::<u64>(),
        keep_one_in in 2u64..6,
        length in 0usize..8,
    ) {
        let trie = TokenTrie::new(&v);
        let pass = |prefix: &[u8]| {
            (prefix.len() <= length && TextSlice.contains(prefix)) || passes(prefix, salt, keep_one_in)
        };
        let mut got = BTreeSet::new();
        let within = match trie.text_within(length) {
            Some((set, within)) => {
                got.extend(set.iter());
                within
            }
            None => 0,
        };
        let mut path = Vec::new();
        let mut enter = |_, depth: usize, byte: u8| {
            path.truncate(depth - 1);
            path.push(byte);
            pass(&path)
        };
        let mut walked = Vec::new();
        trie.walk_text_beyond(within, &mut enter, |token| walked.push(token));
        trie.walk_rest_indexed(&mut enter, |token| walked.push(token));
        got.extend(walked);
        let expected: BTreeSet<TokenId> = v
            .iter()
            .filter(|(_, b, k)| k.is_text() && (1..=b.len()).all(|n| pass(&b[..n])))
            .map(|(id, _, _)| id)
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn trie_enumerates_exactly_the_text_tokens(v in arb_vocabulary()) {
        let trie = TokenTrie::new(&v);
        let (_, mut reported) = walk_checked(&trie, &v, |_| true);
        let expected: Vec<TokenId> =
            v.iter().filter(|(_, _, k)| k.is_text()).map(|(id, _, _)| id).collect();
        reported.sort_unstable();
        prop_assert_eq!(reported, expected);
        prop_assert_eq!(trie.num_tokens(), trie.tokens.len());
        // One node per distinct prefix within each section.
        let prefixes = |text: bool| -> BTreeSet<&[u8]> {
            v.iter()
                .filter(|(_, b, k)| k.is_text() && TextSlice.contains(b) == text)
                .flat_map(|(_, b, _)| (1..=b.len()).map(move |n| &b[..n]))
                .collect()
        };
        prop_assert_eq!(trie.num_nodes(), prefixes(true).len() + prefixes(false).len());
    }

    #[test]
    fn pruned_walk_visits_exactly_tokens_whose_prefixes_all_pass(
        v in arb_vocabulary(),
        salt in any::<u64>(),
        keep_one_in in 2u64..6,
    ) {
        let trie = TokenTrie::new(&v);
        let mut asked: Vec<Vec<u8>> = Vec::new();
        let (entered, mut reported) = walk_checked(&trie, &v, |p| {
            asked.push(p.to_vec());
            passes(p, salt, keep_one_in)
        });
        let expected: Vec<TokenId> = v
            .iter()
            .filter(|(_, b, k)| {
                k.is_text() && (1..=b.len()).all(|n| passes(&b[..n], salt, keep_one_in))
            })
            .map(|(id, _, _)| id)
            .collect();
        reported.sort_unstable();
        prop_assert_eq!(reported, expected);
        // The predicate is asked about a prefix at most once per section
        // that has it, and only when all its proper prefixes passed: the
        // walk never looks into a pruned subtree.
        let in_section = |prefix: &[u8], text: bool| {
            v.iter().any(|(_, b, k)| k.is_text() && b.starts_with(prefix) && TextSlice.contains(b) == text)
        };
        for prefix in &entered {
            let times = entered.iter().filter(|other| *other == prefix).count();
            prop_assert!(times <= usize::from(in_section(prefix, true)) + usize::from(in_section(prefix, false)));
        }
        for prefix in &asked {
            prop_assert!((1..prefix.len()).all(|n| passes(&prefix[..n], salt, keep_one_in)));
        }
    }
}
