//! Token-level view of Trellis constraints: vocabularies as byte strings,
//! a token trie, and exact per-token masks over compiled grammars.
//!
//! # The idea
//!
//! A grammar (from `trellis-grammars`) describes a language of **byte
//! strings**. A language model emits **tokens**. This crate is the bridge.
//! Its first rule (design.md §2, "Tokens are bytes") is that every
//! vocabulary — GPT-2-style byte-level BPE, SentencePiece, tiktoken — is
//! turned into one plain form: for each token id, the raw bytes it stands
//! for, plus a [`TokenKind`]:
//!
//! - [`Normal`](TokenKind::Normal): ordinary text, any bytes, possibly
//!   ending inside a UTF-8 character or spanning several lexemes;
//! - [`ByteFallback`](TokenKind::ByteFallback): SentencePiece's `<0x0A>`
//!   tokens, exactly one byte each;
//! - [`Special`](TokenKind::Special): control tokens such as `<|im_end|>`,
//!   which grammar text never matches (EOS is handled explicitly);
//! - [`Unused`](TokenKind::Unused): holes and reserved ids, never allowed.
//!
//! With every vocabulary in that form, the rest of the crate never needs to
//! know which tokenizer a model uses.
//!
//! # The types, in the order of a token's life
//!
//! - [`Vocabulary`]: the immutable id → (bytes, kind) table with EOS/BOS
//!   ids and a stable [`fingerprint`](Vocabulary::fingerprint), shared as
//!   `Arc<Vocabulary>`; [`Tokenizer`] pairs one with text ↔ ids for a real
//!   model, loaded from a Hugging Face `tokenizer.json`, a GGUF model file
//!   (through a small metadata reader of this crate's own), or a built-in
//!   tiktoken encoding.
//! - [`TokenTrie`]: the text tokens as a flat, depth-first prefix tree. Its
//!   [`walk`](TokenTrie::walk) lets a mask computation advance its own
//!   byte-level automaton one byte per trie edge and skip a whole subtree
//!   in O(1) the moment the automaton dies (design.md §3).
//! - [`TokenIndex`]: a vocabulary with its trie, built once per vocabulary.
//! - [`TokenConstraint`]: a compiled grammar over a token index, and the
//!   cache of mask parts its matchers share (`Send + Sync`, one per grammar
//!   and vocabulary; [`TokenConstraint::cache_stats`] says what it holds).
//! - [`TokenMatcher`]: the cursor, one per sequence. Its life is
//!   **mask → sample → commit → fork / roll back**:
//!   [`mask`](TokenMatcher::mask) writes the exact set of allowed tokens
//!   into a [`TokenSet`] (a token iff the bytes so far followed by its
//!   bytes stay a viable prefix; EOS iff the bytes so far are complete;
//!   other special tokens never); the caller samples one;
//!   [`commit`](TokenMatcher::commit) consumes it (refusing, with nothing
//!   changed, a token that is not allowed); [`Clone`] forks in O(1) and
//!   [`rollback`](TokenMatcher::rollback) undoes the last commits.
//!   [`forced_bytes`](TokenMatcher::forced_bytes) gives the text every
//!   continuation starts with.
//! - [`IndexFile`]: a constraint saved with its precomputed mask parts
//!   ([`TokenConstraint::precompute`], [`TokenConstraint::to_index_file`])
//!   and loaded back without computing them again; versioned, checksummed,
//!   and refused with a reason when it was built for another vocabulary,
//!   grammar or Trellis.
//!
//! How a mask is computed and what is cached between masks — three levels,
//! by lexer state and parser top, by trie subtree, and by whole matcher
//! state — is told in `src/mask/compute.rs`, with the figures that justify
//! each level.
//!
//! # Examples
//!
//! A vocabulary in the SentencePiece style, where byte-fallback tokens may
//! repeat the bytes of normal tokens:
//!
//! ```
//! use trellis_token_index::{TokenKind, Vocabulary};
//!
//! let vocabulary = Vocabulary::from_tokens(
//!     vec![
//!         (b"</s>".to_vec(), TokenKind::Special),
//!         (b" the".to_vec(), TokenKind::Normal),
//!         (b"a".to_vec(), TokenKind::Normal),
//!         (vec![b'a'], TokenKind::ByteFallback),  // <0x61>
//!         (vec![0xE2], TokenKind::ByteFallback),  // <0xE2>: a UTF-8 lead byte
//!         (Vec::new(), TokenKind::Unused),
//!     ],
//!     vec![0], // EOS
//!     None,    // no BOS
//! )?;
//!
//! assert_eq!(vocabulary.len(), 6);
//! assert_eq!(vocabulary.token_bytes(1), Some(&b" the"[..]));
//! assert_eq!(vocabulary.kind(4), Some(TokenKind::ByteFallback));
//! assert_eq!(vocabulary.eos_tokens(), &[0]);
//! assert_eq!(vocabulary.token_bytes(6), None);
//!
//! // Two Normal tokens for the same bytes are rejected: a mask could not
//! // tell them apart.
//! let err = Vocabulary::from_tokens(
//!     vec![(b"a".to_vec(), TokenKind::Normal), (b"a".to_vec(), TokenKind::Normal)],
//!     vec![],
//!     None,
//! )
//! .unwrap_err();
//! assert_eq!(err.to_string(), "tokens 0 and 1 are both Normal tokens for the bytes \"a\"");
//! # Ok::<(), trellis_token_index::VocabError>(())
//! ```
//!
//! The tokens a DFA allows from its start state, by walking the trie and
//! the DFA together (this is the mask walk of design.md §3, in miniature):
//!
//! ```
//! use regex_automata::{Anchored, dfa::{Automaton, dense}, util::start};
//! use trellis_token_index::{TokenTrie, Tokenizer};
//!
//! let tokenizer = Tokenizer::tiktoken("r50k_base")?;
//! let trie = TokenTrie::new(tokenizer.vocabulary());
//! let dfa = dense::DFA::new("[0-9]+(\\.[0-9]+)?").expect("valid regex");
//! let start = dfa
//!     .start_state(&start::Config::new().anchored(Anchored::Yes))
//!     .expect("no look-around");
//!
//! let mut stack = vec![start; trie.max_depth() + 1];
//! let mut allowed = Vec::new();
//! trie.walk(
//!     |depth, byte| {
//!         let next = dfa.next_state(stack[depth - 1], byte);
//!         stack[depth] = next;
//!         !dfa.is_dead_state(next) // prune the subtree at the first dead state
//!     },
//!     |token| allowed.push(token),
//! );
//! let text = |id| String::from_utf8_lossy(tokenizer.vocabulary().token_bytes(id).unwrap_or(b""));
//! assert!(allowed.iter().any(|&id| text(id) == "2019"));
//! assert!(!allowed.iter().any(|&id| text(id) == ".")); // a number starts with a digit
//! assert!(allowed.iter().all(|&id| text(id).bytes().all(|b| b.is_ascii_digit() || b == b'.')));
//! # Ok::<(), trellis_token_index::VocabError>(())
//! ```
//!
//! Loading a real model's tokenizer (needs the file, so not run here):
//!
//! ```no_run
//! use trellis_token_index::Tokenizer;
//!
//! let tokenizer = Tokenizer::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref())?;
//! let ids = tokenizer.encode("Hello, world!")?;
//! assert_eq!(tokenizer.decode(&ids)?, b"Hello, world!");
//! let prompt = tokenizer.encode_with_special("<|im_start|>user\nHi<|im_end|>\n")?;
//! assert_eq!(prompt[0], 1); // <|im_start|>
//! # Ok::<(), trellis_token_index::VocabError>(())
//! ```
//!
//! # What this crate does not do
//!
//! It does not run models or know where they are (that is
//! `trellis-engine`), parse grammars (that is `trellis-grammars`), or
//! download anything: tiktoken ranks are compiled in.
//! Decoding is byte concatenation; turning bytes into text (and handling
//! tokens that end inside a character) is the caller's choice.

mod constraint;
mod index;
mod index_file;
mod mask;
mod matcher;
pub mod token_set;
pub mod trie;
pub mod vocab;

pub use constraint::{Precomputed, TokenConstraint};
pub use index::TokenIndex;
pub use index_file::{FORMAT_VERSION, INDEX_MAGIC, IndexFile, IndexFileError};
pub use mask::{CacheStats, MemoStats};
pub use matcher::{TokenError, TokenMatcher};
pub use token_set::TokenSet;
pub use trie::{NodeIndex, TokenTrie};
pub use vocab::{TokenId, TokenKind, Tokenizer, VocabError, Vocabulary};
