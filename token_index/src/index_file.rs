//! Index files: a [`TokenConstraint`] with its precomputed mask parts, saved
//! by `trellis compile` and loaded instead of computing them again.
//!
//! # Layout
//!
//! All integers little-endian.
//!
//! ```text
//! magic        8 bytes   "TRLSIDX\0"
//! version      u32       FORMAT_VERSION
//! reserved     u32       0
//! payload_len  u64
//! checksum     u32       CRC-32 (IEEE) of the payload
//! reserved     u32       0
//! payload:
//!   trellis version (string), vocabulary fingerprint (u64)
//!   grammar source: format name, text, origin (strings), options
//!     (count, then name and value strings)
//!   grammar shape: terminals, nonterminals, productions, lexer states, LR states (u32 each)
//!   vocabulary: count (u32), section length (u64), then per token kind
//!     (u8) and bytes; EOS ids; BOS id
//!   distinct in-lexeme token sets
//!   lexeme masks: key, index of its token set, boundary groups
//!   subtree masks: key, group id, tokens, boundary groups
//! ```
//!
//! Strings and byte strings are a `u32` length and the bytes.
//!
//! # Why the stored masks can be trusted
//!
//! A mask part is keyed by lexer and parser state numbers, which mean
//! something only for the grammar they were computed from. The file keeps
//! the grammar's source, not its tables: the loader compiles it again and
//! then refuses the file unless the result has the same shape (terminal,
//! rule, production and state counts) and was compiled by the same Trellis
//! version, whose compiler numbers states deterministically. Grammars whose
//! states are not numbered deterministically (the lazy lexer) are saved
//! without mask parts. Every stored number is range-checked, so even a file
//! that passes the checksum cannot make the matcher index out of bounds.

use std::sync::Arc;

use hashbrown::{HashMap, HashSet};
use trellis_grammars::{CompiledGrammar, Format, Source, SourceOptions};

use crate::constraint::TokenConstraint;
use crate::index::TokenIndex;
use crate::mask::{BoundaryGroup, CacheContents, LexemePart, MaskCache, SubtreePart};
use crate::token_set::TokenSet;
use crate::vocab::{TokenId, TokenKind, Vocabulary};

/// The version of the file layout this build reads and writes (2: the
/// grammar's source is typed, with its origin; 3: trie nodes numbered in
/// two sections, text slice first).
pub const FORMAT_VERSION: u32 = 3;

/// The first bytes of every index file.
pub const INDEX_MAGIC: &[u8; 8] = b"TRLSIDX\0";
const HEADER_LEN: usize = 32;
/// The Trellis version whose compiler numbered the stored states.
const TRELLIS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why an index file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexFileError {
    #[error("not a Trellis index file (it does not start with the index magic bytes)")]
    NotAnIndex,
    #[error(
        "index file format version {found}; this build reads version {FORMAT_VERSION} (run `trellis compile` again)"
    )]
    UnsupportedVersion { found: u32 },
    #[error(
        "the index was compiled by Trellis {found}, this is Trellis {TRELLIS_VERSION}: state numbers may differ \
         (run `trellis compile` again)"
    )]
    OtherTrellis { found: String },
    #[error("the index file is truncated: {needed} bytes needed at offset {offset}, {len} in the file")]
    Truncated { offset: usize, needed: usize, len: usize },
    #[error("the index file is corrupt: checksum {found:08x}, expected {expected:08x}")]
    Checksum { expected: u32, found: u32 },
    #[error("the index file is malformed at payload offset {offset}: {what}")]
    Malformed { offset: usize, what: String },
    #[error(
        "the index was compiled for another vocabulary (fingerprint {file:016x}; this tokenizer's is {given:016x})"
    )]
    VocabularyMismatch { file: u64, given: u64 },
    #[error("the grammar compiled from the index file differs from the one it was built with: {what}")]
    GrammarMismatch { what: String },
}

impl TokenConstraint {
    /// The constraint and its cached mask parts as an index file.
    /// `source` must compile to this constraint's grammar; the loader
    /// checks that it does. Mask parts are stored only for a grammar with
    /// stable states ([`CompiledGrammar::has_stable_states`]: compiled with
    /// `config.lexer.eager = true`), and the loader must compile it the
    /// same way.
    pub fn to_index_file(&self, source: &Source) -> Vec<u8> {
        let mut payload = Writer::default();
        payload.string(TRELLIS_VERSION);
        let vocabulary = self.index().vocabulary();
        payload.u64(vocabulary.fingerprint());
        payload.string(source.format.name());
        payload.string(&source.text);
        payload.string(&source.origin);
        let options = source.options.entries(source.format);
        payload.len(options.len());
        for (name, value) in &options {
            payload.string(name);
            payload.string(value);
        }
        for value in grammar_shape(self.grammar()) {
            payload.u32(value);
        }
        // The vocabulary is a section of its own with its length up front:
        // a loader that has the vocabulary already (from the tokenizer)
        // compares fingerprints and skips it.
        payload.len(vocabulary.len());
        let mut section = Writer::default();
        for (_, bytes, kind) in vocabulary.iter() {
            section.u8(kind.code());
            section.bytes(bytes);
        }
        section.ids(vocabulary.eos_tokens());
        match vocabulary.bos_token() {
            Some(id) => {
                section.u8(1);
                section.u32(id);
            }
            None => section.u8(0),
        }
        payload.u64(section.0.len() as u64);
        payload.0.extend_from_slice(&section.0);

        // Stale numbering would make stored parts wrong, so grammars
        // without stable states are saved without them.
        let contents = match self.grammar().has_stable_states() {
            true => self.cache().export(),
            false => CacheContents::default(),
        };
        let CacheContents { next_group, lexeme_parts: lexeme_masks, subtree_parts: subtree_masks } = contents;
        payload.u32(next_group);
        let mut set_numbers: HashMap<*const TokenSet, u32> = HashMap::new();
        let mut sets: Vec<&TokenSet> = Vec::new();
        for (_, entry) in &lexeme_masks {
            set_numbers.entry(Arc::as_ptr(&entry.inside)).or_insert_with(|| {
                sets.push(&entry.inside);
                (sets.len() - 1) as u32
            });
        }
        payload.len(sets.len());
        for set in &sets {
            payload.token_set(set);
        }
        payload.len(lexeme_masks.len());
        for (key, entry) in &lexeme_masks {
            let (lex, top) = key.to_raw();
            payload.u32(lex);
            payload.u32(top);
            payload.u32(set_numbers[&Arc::as_ptr(&entry.inside)]);
            payload.groups(&entry.boundaries);
        }
        payload.len(subtree_masks.len());
        for ((key, group), entry) in &subtree_masks {
            let (lex, top) = key.to_raw();
            payload.u32(lex);
            payload.u32(top);
            payload.u32(*group);
            payload.ids(&entry.inside);
            payload.groups(&entry.boundaries);
        }

        let payload = payload.0;
        let mut file = Vec::with_capacity(HEADER_LEN + payload.len());
        file.extend_from_slice(INDEX_MAGIC);
        file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&payload);
        file
    }
}

/// A parsed index file: the grammar's source and the vocabulary, checked,
/// and the stored mask parts, not yet attached to a grammar.
#[derive(Debug)]
pub struct IndexFile {
    source: Source,
    fingerprint: u64,
    vocabulary_len: usize,
    /// Parsed only if asked for ([`IndexFile::vocabulary`]).
    vocabulary_section: Vec<u8>,
    shape: [u32; 5],
    next_group: u32,
    sets: Vec<Arc<TokenSet>>,
    lexeme_masks: Vec<StoredLexemeMask>,
    subtree_masks: Vec<StoredSubtreeMask>,
}

#[derive(Debug)]
struct StoredLexemeMask {
    key: (u32, u32),
    set: usize,
    groups: Vec<StoredGroup>,
}

#[derive(Debug)]
struct StoredSubtreeMask {
    key: (u32, u32),
    group: u32,
    inside: Vec<TokenId>,
    groups: Vec<StoredGroup>,
}

#[derive(Debug)]
struct StoredGroup {
    id: u32,
    parent: u32,
    byte: u8,
    nodes: Vec<u32>,
}

impl IndexFile {
    /// Parses and checks an index file: magic, version, checksum, the
    /// Trellis version that wrote it, and the vocabulary it holds.
    pub fn parse(file: &[u8]) -> Result<IndexFile, IndexFileError> {
        if file.len() < INDEX_MAGIC.len() || &file[..INDEX_MAGIC.len()] != INDEX_MAGIC {
            return Err(IndexFileError::NotAnIndex);
        }
        if file.len() < HEADER_LEN {
            return Err(IndexFileError::Truncated { offset: 0, needed: HEADER_LEN, len: file.len() });
        }
        let word = |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(IndexFileError::UnsupportedVersion { found: version });
        }
        let payload_len = u64::from(word(16)) | (u64::from(word(20)) << 32);
        let expected = word(24);
        let available = (file.len() - HEADER_LEN) as u64;
        if payload_len > available {
            // Both fit in usize: available does, and payload_len is smaller.
            return Err(IndexFileError::Truncated {
                offset: HEADER_LEN,
                needed: usize::try_from(payload_len).unwrap_or(usize::MAX),
                len: file.len(),
            });
        }
        let payload = &file[HEADER_LEN..HEADER_LEN + payload_len as usize];
        let found = crc32fast::hash(payload);
        if found != expected {
            return Err(IndexFileError::Checksum { expected, found });
        }
        if payload_len < available {
            return Err(IndexFileError::Malformed {
                offset: payload.len(),
                what: format!("{} bytes after the end of the payload", available - payload_len),
            });
        }

        let mut reader = Reader { bytes: payload, at: 0 };
        let trellis = reader.string()?;
        if trellis != TRELLIS_VERSION {
            return Err(IndexFileError::OtherTrellis { found: trellis });
        }
        let fingerprint = reader.u64()?;
        let at = reader.at;
        let format = reader.string()?;
        let format = Format::from_name(&format)
            .ok_or_else(|| reader.malformed(at, &format!("unknown grammar format `{format}`")))?;
        let text = reader.string()?;
        let origin = reader.string()?;
        let option_count = reader.len(8)?;
        let mut options = SourceOptions::default();
        for _ in 0..option_count {
            let at = reader.at;
            let (name, value) = (reader.string()?, reader.string()?);
            options.set(&name, &value).map_err(|what| reader.malformed(at, &what))?;
        }
        let mut shape = [0u32; 5];
        for value in &mut shape {
            *value = reader.u32()?;
        }
        let vocabulary_len = reader.u32()? as usize;
        let at = reader.at;
        let section_len = usize::try_from(reader.u64()?).unwrap_or(usize::MAX);
        let vocabulary_at = reader.at;
        reader.take(section_len).map_err(|_| reader.malformed(at, "the vocabulary section runs past the end"))?;
        let vocabulary_section = vocabulary_at..reader.at;

        let next_group = reader.u32()?;
        let set_count = reader.len(5)?;
        let mut sets = Vec::with_capacity(set_count);
        for _ in 0..set_count {
            sets.push(Arc::new(reader.token_set(vocabulary_len)?));
        }
        let mut group_ids = HashSet::new();
        let mask_count = reader.len(16)?;
        let mut lexeme_masks = Vec::with_capacity(mask_count);
        for _ in 0..mask_count {
            let key = (reader.u32()?, reader.u32()?);
            let at = reader.at;
            let set = reader.u32()? as usize;
            if set >= sets.len() {
                return Err(reader.malformed(at, "token set number out of range"));
            }
            let groups = reader.groups(next_group, &mut group_ids)?;
            lexeme_masks.push(StoredLexemeMask { key, set, groups });
        }
        let subtree_count = reader.len(20)?;
        let mut subtree_masks = Vec::with_capacity(subtree_count);
        for _ in 0..subtree_count {
            let key = (reader.u32()?, reader.u32()?);
            let group = reader.u32()?;
            let at = reader.at;
            let inside = reader.ids()?;
            if inside.iter().any(|&id| id as usize >= vocabulary_len) {
                return Err(reader.malformed(at, "token id out of range"));
            }
            let groups = reader.groups(next_group, &mut group_ids)?;
            subtree_masks.push(StoredSubtreeMask { key, group, inside, groups });
        }
        if reader.at != payload.len() {
            return Err(reader.malformed(reader.at, "unexpected bytes after the last entry"));
        }
        Ok(IndexFile {
            source: Source { format, text, options, origin },
            fingerprint,
            vocabulary_len,
            vocabulary_section: payload[vocabulary_section].to_vec(),
            shape,
            next_group,
            sets,
            lexeme_masks,
            subtree_masks,
        })
    }

    /// How to compile the grammar again.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The [fingerprint](Vocabulary::fingerprint) of the vocabulary the
    /// index was compiled for.
    pub fn vocabulary_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The vocabulary the index was compiled for, read from the file (for
    /// callers without a tokenizer; [`Self::into_constraint`] needs only
    /// the fingerprint).
    pub fn vocabulary(&self) -> Result<Vocabulary, IndexFileError> {
        let mut reader = Reader { bytes: &self.vocabulary_section, at: 0 };
        let mut tokens = Vec::with_capacity(self.vocabulary_len);
        for _ in 0..self.vocabulary_len {
            let at = reader.at;
            let kind = TokenKind::from_code(reader.u8()?).ok_or_else(|| reader.malformed(at, "unknown token kind"))?;
            tokens.push((reader.byte_string()?.to_vec(), kind));
        }
        let eos = reader.ids()?;
        let bos = match reader.u8()? {
            0 => None,
            _ => Some(reader.u32()?),
        };
        let at = reader.at;
        let vocabulary = Vocabulary::from_tokens(tokens, eos, bos)
            .map_err(|error| reader.malformed(at, &format!("the stored vocabulary is invalid: {error}")))?;
        if vocabulary.fingerprint() != self.fingerprint || reader.at != self.vocabulary_section.len() {
            return Err(reader.malformed(at, "the stored vocabulary does not match its fingerprint"));
        }
        Ok(vocabulary)
    }

    /// Number of stored mask parts (lexeme masks, subtree masks).
    pub fn stored_parts(&self) -> (usize, usize) {
        (self.lexeme_masks.len(), self.subtree_masks.len())
    }

    /// The constraint of `grammar` (compiled from [`Self::source`]) over
    /// `index`, its caches filled from the file. Refused if `index` has
    /// another vocabulary, or `grammar` is not the grammar the file was
    /// built with.
    pub fn into_constraint(
        self,
        grammar: &CompiledGrammar,
        index: &TokenIndex,
    ) -> Result<TokenConstraint, IndexFileError> {
        let (file, given) = (self.fingerprint, index.vocabulary().fingerprint());
        if file != given || self.vocabulary_len != index.vocabulary().len() {
            return Err(IndexFileError::VocabularyMismatch { file, given });
        }
        let shape = grammar_shape(grammar);
        if self.shape[3] != 0 && !grammar.has_stable_states() {
            return Err(IndexFileError::GrammarMismatch {
                what: "the file stores masks by lexer state, and this grammar's lexer builds its states lazily \
                       (compile it with `config.lexer.eager = true`)"
                    .to_string(),
            });
        }
        if shape != self.shape {
            return Err(IndexFileError::GrammarMismatch {
                what: format!(
                    "(terminals, rules, productions, lexer states, parser states) are {shape:?}, the file says {:?}",
                    self.shape
                ),
            });
        }
        let trie = index.trie();
        let mismatch = |what: &str| IndexFileError::GrammarMismatch { what: what.to_string() };
        let key = |(lex, top): (u32, u32)| {
            grammar.lexeme_key_from_raw(lex, top).ok_or_else(|| mismatch("a stored key is not a state of the grammar"))
        };
        let groups = |stored: Vec<StoredGroup>| -> Result<Vec<BoundaryGroup>, IndexFileError> {
            stored
                .into_iter()
                .map(|group| {
                    let parent = grammar
                        .lex_state_from_raw(group.parent)
                        .ok_or_else(|| mismatch("a stored lexer state is not one of the grammar's"))?;
                    let nodes = group
                        .nodes
                        .iter()
                        .map(|&node| {
                            trie.node_from_raw(node).ok_or_else(|| mismatch("a stored trie node is out of range"))
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(BoundaryGroup { id: group.id, parent, byte: group.byte, nodes })
                })
                .collect()
        };
        let mut lexeme_parts = Vec::with_capacity(self.lexeme_masks.len());
        for stored in self.lexeme_masks {
            let inside = self.sets[stored.set].clone();
            let part = LexemePart { inside, boundaries: groups(stored.groups)? };
            lexeme_parts.push((key(stored.key)?, Arc::new(part)));
        }
        let mut subtree_parts = Vec::with_capacity(self.subtree_masks.len());
        for stored in self.subtree_masks {
            let part = SubtreePart { inside: stored.inside, boundaries: groups(stored.groups)? };
            subtree_parts.push(((key(stored.key)?, stored.group), Arc::new(part)));
        }
        let contents = CacheContents { next_group: self.next_group, lexeme_parts, subtree_parts };
        Ok(TokenConstraint::with_cache(grammar, index, MaskCache::import(contents)))
    }
}

/// What must be equal for stored state numbers to mean the same states.
/// A lazily built lexer has no stable state count (and its file no stored
/// masks): 0.
fn grammar_shape(grammar: &CompiledGrammar) -> [u32; 5] {
    let stats = grammar.stats();
    let clamp = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    [
        clamp(stats.terminals),
        clamp(stats.nonterminals),
        clamp(stats.productions),
        if grammar.has_stable_states() { clamp(stats.lexer_states) } else { 0 },
        clamp(stats.lr_states),
    ]
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// Counts come from in-memory collections that the vocabulary's and the
    /// grammar's limits keep far below 2^32.
    fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.len(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn ids(&mut self, ids: &[TokenId]) {
        self.len(ids.len());
        for &id in ids {
            self.u32(id);
        }
    }

    /// Sparse (a list of ids) or dense (the words), whichever is smaller.
    fn token_set(&mut self, set: &TokenSet) {
        let count = set.count();
        if count * 4 < set.words().len() * 8 {
            self.u8(0);
            self.len(count);
            for id in set.iter() {
                self.u32(id);
            }
        } else {
            self.u8(1);
            self.len(set.words().len());
            for &word in set.words() {
                self.u64(word);
            }
        }
    }

    fn groups(&mut self, groups: &[BoundaryGroup]) {
        self.len(groups.len());
        for group in groups {
            self.u32(group.id);
            self.u32(group.parent.to_raw());
            self.u8(group.byte);
            self.len(group.nodes.len());
            for node in &group.nodes {
                self.u32(node.to_raw());
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn malformed(&self, offset: usize, what: &str) -> IndexFileError {
        IndexFileError::Malformed { offset, what: what.to_string() }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], IndexFileError> {
        match self.at.checked_add(count).filter(|&end| end <= self.bytes.len()) {
            Some(end) => {
                let taken = &self.bytes[self.at..end];
                self.at = end;
                Ok(taken)
            }
            // The checksum matched, so the writer wrote this: a count that
            // runs past the end is a malformed file, not a short read.
            None => Err(self.malformed(self.at, &format!("{count} bytes needed, {} left", self.bytes.len() - self.at))),
        }
    }

    fn u8(&mut self) -> Result<u8, IndexFileError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, IndexFileError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64, IndexFileError> {
        let low = u64::from(self.u32()?);
        let high = u64::from(self.u32()?);
        Ok(low | (high << 32))
    }

    /// A count of items each at least `min_item_bytes` long, checked
    /// against what is left so that a bad count cannot reserve gigabytes.
    fn len(&mut self, min_item_bytes: usize) -> Result<usize, IndexFileError> {
        let at = self.at;
        let count = self.u32()? as usize;
        if count.saturating_mul(min_item_bytes) > self.bytes.len() - self.at {
            return Err(self.malformed(at, &format!("a count of {count} does not fit in the rest of the file")));
        }
        Ok(count)
    }

    fn byte_string(&mut self) -> Result<&'a [u8], IndexFileError> {
        let len = self.len(1)?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, IndexFileError> {
        let at = self.at;
        let bytes = self.byte_string()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.malformed(at, "a string is not UTF-8"))
    }

    fn ids(&mut self) -> Result<Vec<TokenId>, IndexFileError> {
        let count = self.len(4)?;
        (0..count).map(|_| self.u32()).collect()
    }

    fn token_set(&mut self, vocabulary_len: usize) -> Result<TokenSet, IndexFileError> {
        let at = self.at;
        match self.u8()? {
            0 => {
                let mut set = TokenSet::new(vocabulary_len);
                for id in self.ids()? {
                    if id as usize >= vocabulary_len {
                        return Err(self.malformed(at, "token id out of range"));
                    }
                    set.insert(id);
                }
                Ok(set)
            }
            1 => {
                let count = self.len(8)?;
                let words = (0..count).map(|_| self.u64()).collect::<Result<Vec<_>, _>>()?;
                TokenSet::from_words(words, vocabulary_len)
                    .ok_or_else(|| self.malformed(at, "a token set does not fit the vocabulary"))
            }
            _ => Err(self.malformed(at, "unknown token set encoding")),
        }
    }

    fn groups(&mut self, next_group: u32, seen: &mut HashSet<u32>) -> Result<Vec<StoredGroup>, IndexFileError> {
        let count = self.len(13)?;
        let mut groups = Vec::with_capacity(count);
        for _ in 0..count {
            let at = self.at;
            let id = self.u32()?;
            if id >= next_group || !seen.insert(id) {
                return Err(self.malformed(at, "a boundary group id is out of range or repeated"));
            }
            let parent = self.u32()?;
            let byte = self.u8()?;
            let nodes = self.ids()?;
            groups.push(StoredGroup { id, parent, byte, nodes });
        }
        Ok(groups)
    }
}
