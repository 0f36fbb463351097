//! The text slice: the byte strings most tokens are made of, and which a
//! lexer state inside a string usually keeps inside its lexeme whole.
//!
//! A mask from a state inside a JSON string allows nearly every token
//! (on o200k 195,273 of the 199,998 text tokens are in this slice), and
//! walking them costs a lexer step
//! per trie node: 12 ms on o200k the first time a schema meets that state.
//! The trie therefore keeps the tokens of this slice in a section of their
//! own, with their sets by length precomputed
//! ([`TokenTrie`](super::TokenTrie)); [`CompiledGrammar::inside_depth`]
//! says how long a string of the slice may be and stay inside the lexeme
//! (a product search over a handful of states, not a walk of tokens), and
//! a mask takes the tokens up to that length as one copy of a set. Only
//! the rest of the vocabulary — tokens with a quote, a backslash, a control
//! byte or a malformed UTF-8 sequence, 4,725 on o200k — is walked.
//! This is llguidance's "slicer" idea, with the slice's length read from
//! the lexer instead of fixed (`{1,10}`, `{1,30}`) in advance.
//!
//! [`CompiledGrammar::inside_depth`]: trellis_grammars::CompiledGrammar::inside_depth

use trellis_grammars::walk::ByteSlice;

/// Well-formed UTF-8 (Unicode 15, table 3-7: no overlongs, no surrogates,
/// nothing past U+10FFFF) of characters other than `"`, `\`, U+0000–U+001F
/// and U+007F, and its prefixes: a token may end inside a character. These
/// are the characters every JSON string takes as they are (DEL included
/// in JSON, left out here so that grammars that exclude it still benefit),
/// so they stay inside the lexeme of any unconstrained string.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextSlice;

/// States: between characters, then the continuation bytes still needed,
/// with the restricted second bytes of E0, ED, F0 and F4 apart.
const BETWEEN: u8 = 0;
const NEED_1: u8 = 1;
const NEED_2: u8 = 2;
const NEED_3: u8 = 3;
const AFTER_E0: u8 = 4;
const AFTER_ED: u8 = 5;
const AFTER_F0: u8 = 6;
const AFTER_F4: u8 = 7;

impl ByteSlice for TextSlice {
    const STATES: u8 = 8;
    const START: u8 = BETWEEN;

    fn next(&self, state: u8, byte: u8) -> Option<u8> {
        match (state, byte) {
            (BETWEEN, b'"' | b'\\') => None,
            (BETWEEN, 0x20..=0x7E) => Some(BETWEEN),
            (BETWEEN, 0xC2..=0xDF) => Some(NEED_1),
            (BETWEEN, 0xE0) => Some(AFTER_E0),
            (BETWEEN, 0xE1..=0xEC | 0xEE..=0xEF) => Some(NEED_2),
            (BETWEEN, 0xED) => Some(AFTER_ED),
            (BETWEEN, 0xF0) => Some(AFTER_F0),
            (BETWEEN, 0xF1..=0xF3) => Some(NEED_3),
            (BETWEEN, 0xF4) => Some(AFTER_F4),
            (NEED_1, 0x80..=0xBF) => Some(BETWEEN),
            (NEED_2, 0x80..=0xBF) | (AFTER_E0, 0xA0..=0xBF) | (AFTER_ED, 0x80..=0x9F) => Some(NEED_1),
            (NEED_3, 0x80..=0xBF) | (AFTER_F0, 0x90..=0xBF) | (AFTER_F4, 0x80..=0x8F) => Some(NEED_2),
            _ => None,
        }
    }
}

impl TextSlice {
    /// Whether `bytes` is in the slice.
    pub fn contains(&self, bytes: &[u8]) -> bool {
        let mut state = Self::START;
        for &byte in bytes {
            match self.next(state, byte) {
                Some(next) => state = next,
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice against Rust's own UTF-8 decoder on every string of one to
    /// four bytes built from bytes that matter (boundaries of every range
    /// above): in the slice iff it is a prefix of valid UTF-8 text without
    /// the excluded characters.
    #[test]
    fn agrees_with_utf8_prefixes() {
        let bytes: Vec<u8> = vec![
            0x00, 0x1F, 0x20, b'"', b'\\', b'a', 0x7E, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
            0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        let excluded = |c: char| c == '"' || c == '\\' || (c as u32) < 0x20 || c == '\u{7F}';
        // A prefix of valid text iff some completion with continuation bytes
        // is valid (at most three more bytes complete a character).
        let is_text_prefix = |s: &[u8]| {
            let valid = |t: &[u8]| std::str::from_utf8(t).is_ok_and(|text| !text.chars().any(excluded));
            if valid(s) {
                return true;
            }
            (1..=3).any(|extra| {
                let mut tail = vec![0x80u8; extra];
                // Try every continuation byte range for the first extra byte.
                [0x80u8, 0x8F, 0x90, 0x9F, 0xA0, 0xBF].iter().any(|&first| {
                    tail[0] = first;
                    valid(&[s, &tail].concat())
                })
            })
        };
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..4 {
            strings = strings.iter().flat_map(|s| bytes.iter().map(move |&b| [s.as_slice(), &[b]].concat())).collect();
            for s in &strings {
                assert_eq!(TextSlice.contains(s), is_text_prefix(s), "{s:02x?}");
            }
        }
    }
}
