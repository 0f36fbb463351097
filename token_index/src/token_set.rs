//! [`TokenSet`]: a fixed-size bitset over token ids, the form of a mask.

use crate::vocab::TokenId;

/// A set of token ids `0..len`, one bit each.
///
/// ```
/// use trellis_token_index::TokenSet;
///
/// let mut set = TokenSet::new(100);
/// set.insert(3);
/// set.insert(64);
/// assert!(set.contains(64) && !set.contains(4));
/// assert_eq!(set.iter().collect::<Vec<_>>(), [3, 64]);
/// assert_eq!(set.count(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenSet {
    words: Vec<u64>,
    len: usize,
}

impl TokenSet {
    /// The empty set over ids `0..len`.
    pub fn new(len: usize) -> TokenSet {
        TokenSet { words: vec![0; len.div_ceil(64)], len }
    }

    /// The set over ids `0..len` with these words (bit `i % 64` of word
    /// `i / 64` is id `i`); `None` if the word count does not fit `len` or a
    /// bit past `len` is set.
    pub(crate) fn from_words(words: Vec<u64>, len: usize) -> Option<TokenSet> {
        if words.len() != len.div_ceil(64) {
            return None;
        }
        let tail_bits = len % 64;
        if tail_bits != 0 && words.last().is_some_and(|&last| last >> tail_bits != 0) {
            return None;
        }
        Some(TokenSet { words, len })
    }

    /// Number of ids the set ranges over (not the number of members).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set ranges over no ids at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        self.words.iter_mut().for_each(|word| *word = 0);
    }

    /// Makes this set equal to `other` (resized to `other`'s length).
    pub fn copy_from(&mut self, other: &TokenSet) {
        self.words.clone_from(&other.words);
        self.len = other.len;
    }

    /// Adds every member of `other` (of the same length).
    pub fn union_with(&mut self, other: &TokenSet) {
        for (word, value) in self.words.iter_mut().zip(&other.words) {
            *word |= value;
        }
    }

    /// Adds `token`; ids outside `0..len` are ignored.
    #[inline]
    pub fn insert(&mut self, token: TokenId) {
        let index = token as usize;
        if index < self.len {
            self.words[index / 64] |= 1 << (index % 64);
        }
    }

    /// Whether `token` is a member.
    #[inline]
    pub fn contains(&self, token: TokenId) -> bool {
        let index = token as usize;
        index < self.len && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// The number of members.
    pub fn count(&self) -> usize {
        self.words.iter().map(|word| word.count_ones() as usize).sum()
    }

    /// The members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.words.iter().enumerate().flat_map(|(index, &word)| {
            let mut word = word;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let bit = word.trailing_zeros();
                word &= word - 1;
                Some((index * 64) as TokenId + bit)
            })
        })
    }

    /// The raw 64-bit words, bit `t % 64` of word `t / 64` for token `t`
    /// (for handing a mask to a sampler).
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}
