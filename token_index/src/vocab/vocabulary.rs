//! [`Vocabulary`]: a model's tokens as raw byte strings.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::VocabError;

/// The id of a token: its index in the model's embedding and logit vectors.
pub type TokenId = u32;

/// What a token is, for constrained decoding.
///
/// Only [`Normal`](TokenKind::Normal) and [`ByteFallback`](TokenKind::ByteFallback)
/// tokens ever match grammar text; EOS is handled explicitly by the masks,
/// whatever its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An ordinary token standing for one or more bytes of text.
    Normal,
    /// A SentencePiece byte-fallback token such as `<0x0A>`: exactly one
    /// byte. Its byte may also be the bytes of a Normal token; both spell
    /// the same text.
    ByteFallback,
    /// A control token (`<|im_start|>`, `</s>`, `<unk>`, …). Its bytes are
    /// its literal text, which grammars never match.
    Special,
    /// An id with no token behind it (a gap in the id space) or a token the
    /// tokenizer marks unused/reserved. Never allowed by a mask.
    Unused,
}

impl TokenKind {
    /// Whether tokens of this kind can match grammar text.
    pub fn is_text(self) -> bool {
        matches!(self, TokenKind::Normal | TokenKind::ByteFallback)
    }

    /// A stable one-byte code, used by fingerprints and index files.
    pub(crate) fn code(self) -> u8 {
        match self {
            TokenKind::Normal => 0,
            TokenKind::ByteFallback => 1,
            TokenKind::Special => 2,
            TokenKind::Unused => 3,
        }
    }

    /// The kind with this [`code`](Self::code).
    pub(crate) fn from_code(code: u8) -> Option<TokenKind> {
        Some(match code {
            0 => TokenKind::Normal,
            1 => TokenKind::ByteFallback,
            2 => TokenKind::Special,
            3 => TokenKind::Unused,
            _ => return None,
        })
    }
}

/// A model's vocabulary: for every token id, the raw bytes it stands for and
/// its [`TokenKind`], plus the EOS and BOS ids.
///
/// Immutable once built; share it as `Arc<Vocabulary>`. Token bytes live in
/// one contiguous buffer indexed by offsets, so looking a token up is two
/// array reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    /// All token bytes, concatenated in id order.
    bytes: Vec<u8>,
    /// `offsets[id]..offsets[id + 1]` is the range of token `id` in `bytes`.
    offsets: Vec<usize>,
    kinds: Vec<TokenKind>,
    eos: Vec<TokenId>,
    bos: Option<TokenId>,
    fingerprint: u64,
}

impl Vocabulary {
    /// The longest token, in bytes, a vocabulary may hold: 2^24 − 1. The
    /// longest tokens of real vocabularies are a few hundred bytes; the
    /// bound lets the [token trie](crate::TokenTrie) pack a node's depth and
    /// byte into one `u32`.
    pub const MAX_TOKEN_LEN: usize = (1 << 24) - 1;

    /// Builds a vocabulary from `(bytes, kind)` pairs; a token's id is its
    /// index in `tokens`.
    ///
    /// `eos` lists every id that ends generation (a chat model often has
    /// several, e.g. `<|im_end|>` and `<|endoftext|>`); duplicates are
    /// dropped, order is kept.
    ///
    /// # Errors
    ///
    /// - [`VocabError::TooManyTokens`] if ids would not fit in a [`TokenId`];
    /// - [`VocabError::TokenTooLong`] for a token longer than
    ///   [`MAX_TOKEN_LEN`](Self::MAX_TOKEN_LEN) bytes, and
    ///   [`VocabError::VocabularyTooLarge`] when all tokens together exceed
    ///   `u32::MAX` bytes (these bounds let the [token trie](crate::TokenTrie)
    ///   use 32-bit node indices; real vocabularies hold a few MB);
    /// - [`VocabError::SpecialIdOutOfRange`] for an EOS or BOS id that is not a token;
    /// - [`VocabError::EmptyNormalToken`] for a Normal token with no bytes;
    /// - [`VocabError::BadByteFallback`] for a ByteFallback token that is not one byte;
    /// - [`VocabError::DuplicateNormalToken`] for two Normal tokens with the
    ///   same bytes (a ByteFallback token may share its byte with a Normal
    ///   token, as in SentencePiece vocabularies).
    pub fn from_tokens(
        tokens: Vec<(Vec<u8>, TokenKind)>,
        eos: Vec<TokenId>,
        bos: Option<TokenId>,
    ) -> Result<Vocabulary, VocabError> {
        let len = tokens.len();
        if TokenId::try_from(len).is_err() {
            return Err(VocabError::TooManyTokens { len });
        }
        let in_range = |id: TokenId| (id as usize) < len;
        let mut eos_ids: Vec<TokenId> = Vec::with_capacity(eos.len());
        for id in eos {
            if !in_range(id) {
                return Err(VocabError::SpecialIdOutOfRange { role: "EOS", id, len });
            }
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        if let Some(id) = bos.filter(|&id| !in_range(id)) {
            return Err(VocabError::SpecialIdOutOfRange { role: "BOS", id, len });
        }

        if let Some((index, (token, _))) =
            tokens.iter().enumerate().find(|(_, (token, _))| token.len() > Self::MAX_TOKEN_LEN)
        {
            return Err(VocabError::TokenTooLong { id: index as TokenId, len: token.len(), max: Self::MAX_TOKEN_LEN });
        }
        // Each token is at most MAX_TOKEN_LEN bytes and there are at most
        // u32::MAX of them, so this sum cannot overflow a 64-bit usize; on a
        // 32-bit target the checked sum catches it.
        let total = tokens
            .iter()
            .try_fold(0usize, |sum, (b, _)| sum.checked_add(b.len()))
            .filter(|&total| u32::try_from(total).is_ok())
            .ok_or(VocabError::VocabularyTooLarge)?;
        let mut bytes = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(len + 1);
        let mut kinds = Vec::with_capacity(len);
        // Normal token bytes -> first id with them. Borrowing from `tokens`
        // keeps this check free of copies.
        let mut normal_ids: HashMap<&[u8], TokenId> = HashMap::with_capacity(len);
        offsets.push(0);
        for (index, (token, kind)) in tokens.iter().enumerate() {
            // `len` fits in a TokenId (checked above), so every index does.
            let id = index as TokenId;
            match kind {
                TokenKind::Normal => {
                    if token.is_empty() {
                        return Err(VocabError::EmptyNormalToken { id });
                    }
                    match normal_ids.entry(token.as_slice()) {
                        Entry::Occupied(first) => {
                            return Err(VocabError::DuplicateNormalToken {
                                first: *first.get(),
                                second: id,
                                bytes: String::from_utf8_lossy(token).into_owned(),
                            });
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(id);
                        }
                    }
                }
                TokenKind::ByteFallback if token.len() != 1 => {
                    return Err(VocabError::BadByteFallback { id, len: token.len() });
                }
                _ => {}
            }
            bytes.extend_from_slice(token);
            offsets.push(bytes.len());
            kinds.push(*kind);
        }
        drop(normal_ids);

        let mut vocabulary = Vocabulary { bytes, offsets, kinds, eos: eos_ids, bos, fingerprint: 0 };
        vocabulary.fingerprint = vocabulary.compute_fingerprint();
        Ok(vocabulary)
    }

    /// The number of token ids (including Special and Unused ones): the
    /// length of the model's logit vector.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// Whether the vocabulary has no tokens at all.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The raw bytes token `id` stands for, or `None` if `id` is out of range.
    ///
    /// A token may end inside a UTF-8 character. For Special tokens these are
    /// their literal text (e.g. `b"<|im_end|>"`), which grammars never
    /// match; Unused ids may be empty.
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let index = id as usize;
        let start = *self.offsets.get(index)?;
        let end = *self.offsets.get(index + 1)?;
        self.bytes.get(start..end)
    }

    /// The kind of token `id`, or `None` if `id` is out of range.
    pub fn kind(&self, id: TokenId) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Every id that ends generation, in the order given, without duplicates.
    pub fn eos_tokens(&self) -> &[TokenId] {
        &self.eos
    }

    /// Whether `id` is one of the [EOS tokens](Self::eos_tokens).
    pub fn is_eos(&self, id: TokenId) -> bool {
        self.eos.contains(&id)
    }

    /// The beginning-of-sequence token, if the model has one. Whether it is
    /// prepended to prompts is the caller's decision
    /// ([`Tokenizer::add_bos_token`](super::Tokenizer::add_bos_token) says what the
    /// model expects).
    pub fn bos_token(&self) -> Option<TokenId> {
        self.bos
    }

    /// Iterates over `(id, bytes, kind)` for every token, in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (TokenId, &[u8], TokenKind)> + '_ {
        self.kinds.iter().enumerate().map(move |(index, &kind)| {
            let bytes = &self.bytes[self.offsets[index]..self.offsets[index + 1]];
            (index as TokenId, bytes, kind)
        })
    }

    /// A stable 64-bit hash of every token's bytes and kind, the EOS ids and
    /// the BOS id.
    ///
    /// Index files store it to check that they were built for this exact
    /// vocabulary. It is FNV-1a over a fixed little-endian serialisation, so
    /// it is the same on every platform, Rust version and run.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn compute_fingerprint(&self) -> u64 {
        let mut hash = Fnv1a::new();
        hash.write(b"trellis-vocabulary-v1");
        hash.write(&(self.len() as u64).to_le_bytes());
        for (_, bytes, kind) in self.iter() {
            hash.write(&[kind.code()]);
            hash.write(&(bytes.len() as u64).to_le_bytes());
            hash.write(bytes);
        }
        hash.write(&(self.eos.len() as u64).to_le_bytes());
        for id in &self.eos {
            hash.write(&id.to_le_bytes());
        }
        match self.bos {
            Some(id) => {
                hash.write(&[1]);
                hash.write(&id.to_le_bytes());
            }
            None => hash.write(&[0]),
        }
        hash.finish()
    }
}

/// 64-bit FNV-1a: tiny, dependency-free and specified bit for bit, which is
/// what a hash written into files needs (std's `DefaultHasher` may change
/// between Rust releases).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(s: &str) -> (Vec<u8>, TokenKind) {
        (s.as_bytes().to_vec(), TokenKind::Normal)
    }

    fn small() -> Vocabulary {
        Vocabulary::from_tokens(
            vec![
                ("</s>".into(), TokenKind::Special),
                normal("a"),
                normal("ab"),
                (vec![b'a'], TokenKind::ByteFallback),
                (vec![0xE2], TokenKind::ByteFallback),
                (Vec::new(), TokenKind::Unused),
            ],
            vec![0, 0],
            Some(0),
        )
        .expect("valid vocabulary")
    }

    #[test]
    fn lookups() {
        let v = small();
        assert_eq!(v.len(), 6);
        assert!(!v.is_empty());
        assert_eq!(v.token_bytes(0), Some(&b"</s>"[..]));
        assert_eq!(v.token_bytes(2), Some(&b"ab"[..]));
        assert_eq!(v.token_bytes(4), Some(&[0xE2][..]));
        assert_eq!(v.token_bytes(5), Some(&[][..]));
        assert_eq!(v.token_bytes(6), None);
        assert_eq!(v.token_bytes(u32::MAX), None);
        assert_eq!(v.kind(3), Some(TokenKind::ByteFallback));
        assert_eq!(v.kind(6), None);
        assert_eq!(v.eos_tokens(), &[0], "duplicate EOS ids are dropped");
        assert!(v.is_eos(0) && !v.is_eos(1));
        assert_eq!(v.bos_token(), Some(0));
        assert_eq!(v.iter().len(), 6);
    }

    #[test]
    fn empty_vocabulary_is_allowed() {
        let v = Vocabulary::from_tokens(Vec::new(), Vec::new(), None).expect("empty is valid");
        assert!(v.is_empty());
        assert_eq!(v.token_bytes(0), None);
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let v = small();
        // Pinned: the fingerprint is written into index files, so changing
        // the algorithm must be a deliberate, versioned decision.
        assert_eq!(v.fingerprint(), small().fingerprint());
        let pinned = v.fingerprint();
        assert_eq!(pinned, 0x9f95_059a_44e7_4c86, "got {pinned:#x}");

        let other_kind = Vocabulary::from_tokens(
            vec![
                ("</s>".into(), TokenKind::Special),
                normal("a"),
                normal("ab"),
                (vec![b'a'], TokenKind::ByteFallback),
                (vec![0xE2], TokenKind::ByteFallback),
                (Vec::new(), TokenKind::Special),
            ],
            vec![0],
            Some(0),
        )
        .expect("valid");
        assert_ne!(other_kind.fingerprint(), pinned);
        let other_eos = Vocabulary::from_tokens(vec![normal("a"), normal("b")], vec![0], None).expect("valid");
        let other_eos2 = Vocabulary::from_tokens(vec![normal("a"), normal("b")], vec![1], None).expect("valid");
        assert_ne!(other_eos.fingerprint(), other_eos2.fingerprint());
        // Token boundaries count, not only the concatenated bytes.
        let split = Vocabulary::from_tokens(vec![normal("ab"), normal("c")], vec![], None).expect("valid");
        let split2 = Vocabulary::from_tokens(vec![normal("a"), normal("bc")], vec![], None).expect("valid");
        assert_ne!(split.fingerprint(), split2.fingerprint());
    }

    #[test]
    fn rejects_out_of_range_eos_and_bos() {
        let err = Vocabulary::from_tokens(vec![normal("a")], vec![1], None).unwrap_err();
        assert!(matches!(err, VocabError::SpecialIdOutOfRange { role: "EOS", id: 1, len: 1 }), "{err}");
        assert!(err.to_string().contains("EOS token id 1"), "{err}");
        let err = Vocabulary::from_tokens(vec![normal("a")], vec![0], Some(7)).unwrap_err();
        assert!(matches!(err, VocabError::SpecialIdOutOfRange { role: "BOS", id: 7, len: 1 }), "{err}");
    }

    #[test]
    fn rejects_empty_normal_token() {
        let err =
            Vocabulary::from_tokens(vec![normal("a"), (Vec::new(), TokenKind::Normal)], vec![], None).unwrap_err();
        assert!(matches!(err, VocabError::EmptyNormalToken { id: 1 }), "{err}");
        assert!(err.to_string().contains("token 1"), "{err}");
    }

    #[test]
    fn rejects_duplicate_normal_tokens_but_not_byte_fallback() {
        let err = Vocabulary::from_tokens(vec![normal("x"), normal("the"), normal("y"), normal("the")], vec![], None)
            .unwrap_err();
        assert!(matches!(err, VocabError::DuplicateNormalToken { first: 1, second: 3, .. }), "{err}");
        assert!(err.to_string().contains("tokens 1 and 3"), "{err}");

        // SentencePiece: `<0x61>` and `a` are both the byte 'a'. Special
        // tokens may repeat text too (they are never matched).
        Vocabulary::from_tokens(
            vec![
                normal("a"),
                (b"a".to_vec(), TokenKind::ByteFallback),
                (b"<s>".to_vec(), TokenKind::Special),
                (b"<s>".to_vec(), TokenKind::Special),
                (Vec::new(), TokenKind::Unused),
                (Vec::new(), TokenKind::Unused),
            ],
            vec![],
            None,
        )
        .expect("byte fallback may duplicate a normal token");
    }

    #[test]
    fn rejects_overlong_token() {
        let long = vec![b'x'; Vocabulary::MAX_TOKEN_LEN + 1];
        let err = Vocabulary::from_tokens(vec![normal("a"), (long, TokenKind::Special)], vec![], None).unwrap_err();
        assert!(
            matches!(err, VocabError::TokenTooLong { id: 1, len, .. } if len == Vocabulary::MAX_TOKEN_LEN + 1),
            "{err}"
        );
        assert!(err.to_string().contains("token 1 is 16777216 bytes"), "{err}");
    }

    #[test]
    fn rejects_multi_byte_byte_fallback() {
        let err = Vocabulary::from_tokens(vec![(b"ab".to_vec(), TokenKind::ByteFallback)], vec![], None).unwrap_err();
        assert!(matches!(err, VocabError::BadByteFallback { id: 0, len: 2 }), "{err}");
    }
}
