//! [`TokenMatcher`]: the byte-level matcher of a compiled grammar, seen
//! through a vocabulary — exact masks, commits, forks and rollback by token.

use trellis_grammars::walk::ByteWalker;
use trellis_grammars::{CompiledGrammar, MatchError, Matcher};

use crate::constraint::TokenConstraint;
use crate::index::TokenIndex;
use crate::mask;
use crate::token_set::TokenSet;
use crate::vocab::{TokenId, TokenKind};

/// The longest forced continuation [`TokenMatcher::forced_bytes`] returns.
const MAX_FORCED_BYTES: usize = 4096;

impl TokenConstraint {
    /// A matcher at the start of the language.
    pub fn matcher(&self) -> TokenMatcher {
        self.matcher_from(self.grammar().matcher())
    }

    /// A matcher continuing from a byte-level matcher's state (for example
    /// after forced bytes that are not a whole number of tokens). The
    /// matcher must run over this constraint's grammar.
    pub fn matcher_from(&self, matcher: Matcher) -> TokenMatcher {
        TokenMatcher { constraint: self.clone(), matcher, committed: 0, finished: false }
    }
}

/// Why a [`TokenMatcher`] refused a call. The matcher is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The id is not in the vocabulary.
    #[error("unknown token id {token} (the vocabulary has {vocabulary_len} tokens)")]
    UnknownToken { token: TokenId, vocabulary_len: usize },
    /// The token is not allowed here: its bytes do not continue a viable
    /// prefix (or it is a special token other than an allowed EOS).
    #[error("token {token} is not allowed after {consumed} bytes")]
    NotAllowed { token: TokenId, consumed: u64 },
    /// EOS was committed already; nothing may follow.
    #[error("the output is finished (EOS was committed)")]
    Finished,
    /// The grammar could not decide (too ambiguous, or the lazy lexer ran
    /// out of states).
    #[error("the grammar gave up: {0}")]
    GaveUp(MatchError),
    /// Asked to roll back more tokens than are kept.
    #[error("cannot roll back {requested} tokens: only {available} are kept")]
    Rollback { requested: usize, available: usize },
}

/// A constraint at the token level: which tokens may come next, and the
/// state after each committed token.
///
/// The mask is exact (design.md §2): token `t` is allowed iff the output so
/// far followed by `bytes(t)` is a viable prefix of the language; an EOS
/// token iff the output so far is complete; other special and unused tokens
/// never. A fork ([`Clone`]) is O(1); [`TokenMatcher::rollback`] undoes
/// committed tokens.
///
/// ```
/// use std::sync::Arc;
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenIndex, TokenKind, TokenMatcher, TokenSet, Vocabulary};
///
/// let texts = ["<eos>", "1", "2", "12", "+", "+1", "a"];
/// let vocabulary = Vocabulary::from_tokens(
///     texts.iter().enumerate().map(|(id, t)| {
///         let kind = if id == 0 { TokenKind::Special } else { TokenKind::Normal };
///         (t.as_bytes().to_vec(), kind)
///     }).collect(),
///     vec![0],
///     None,
/// )?;
/// let index = TokenIndex::new(Arc::new(vocabulary));
/// let grammar = CompiledGrammar::new(r#"root ::= [0-9]+ ("+" [0-9]+)*"#, Format::Gbnf)?;
/// let mut matcher = TokenMatcher::new(&grammar, &index);
///
/// let mut mask = TokenSet::new(texts.len());
/// matcher.mask(&mut mask)?;
/// assert_eq!(mask.iter().collect::<Vec<_>>(), [1, 2, 3]); // digits only
/// matcher.commit(3)?; // "12"
/// matcher.mask(&mut mask)?;
/// assert_eq!(mask.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]); // EOS too
/// assert!(matcher.commit(6).is_err()); // "a" is refused; nothing changes
/// matcher.commit(4)?; // "+"
/// assert_eq!(matcher.forced_bytes(), b"");
/// matcher.rollback(1)?;
/// assert!(matcher.is_complete());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenMatcher {
    constraint: TokenConstraint,
    matcher: Matcher,
    /// Committed tokens that can be rolled back, newest last (EOS included).
    committed: usize,
    finished: bool,
}

impl TokenMatcher {
    /// A matcher at the start of the grammar's language, with a cache of
    /// its own: to share the cache between matchers, make them from one
    /// [`TokenConstraint`].
    pub fn new(grammar: &CompiledGrammar, index: &TokenIndex) -> TokenMatcher {
        TokenConstraint::new(grammar, index).matcher()
    }

    /// A matcher continuing from a byte-level matcher's state, with a cache
    /// of its own (see [`TokenConstraint::matcher_from`]).
    pub fn from_matcher(matcher: Matcher, index: &TokenIndex) -> TokenMatcher {
        TokenConstraint::new(matcher.grammar(), index).matcher_from(matcher)
    }

    /// The constraint this matcher runs over.
    pub fn constraint(&self) -> &TokenConstraint {
        &self.constraint
    }

    /// The vocabulary's size: the length a mask must have.
    pub fn vocabulary_len(&self) -> usize {
        self.constraint.index().vocabulary().len()
    }

    /// The byte-level matcher underneath.
    pub fn byte_matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Writes the allowed tokens into `out` (cleared first; resized to the
    /// vocabulary if its length differs).
    ///
    /// # Errors
    ///
    /// [`TokenError::GaveUp`] when a limit (the lazy lexer's states, the
    /// matcher's branches or GLR steps) left some token undecided: `out`
    /// then holds only tokens known to be allowed, and is no exact mask.
    /// A limit never silently removes a token.
    pub fn mask(&self, out: &mut TokenSet) -> Result<(), TokenError> {
        if self.finished {
            mask::clear(out, self.vocabulary_len());
            Ok(())
        } else {
            self.constraint.masks().fill(&self.matcher, out).map_err(TokenError::GaveUp)
        }
    }

    /// Whether `token` is allowed now (the mask's bit, for one token);
    /// [`TokenError::GaveUp`] when a limit leaves it undecided.
    pub fn is_allowed(&self, token: TokenId) -> Result<bool, TokenError> {
        let vocabulary = self.constraint.index().vocabulary();
        let kind =
            vocabulary.kind(token).ok_or(TokenError::UnknownToken { token, vocabulary_len: vocabulary.len() })?;
        if self.finished {
            return Ok(false);
        }
        if vocabulary.is_eos(token) {
            return Ok(self.matcher.is_complete());
        }
        Ok(match kind {
            TokenKind::Normal | TokenKind::ByteFallback => {
                let bytes = vocabulary.token_bytes(token).unwrap_or_default();
                match self.matcher.check(bytes) {
                    Ok(()) => true,
                    Err(MatchError::Rejected { .. }) => false,
                    Err(limit) => return Err(TokenError::GaveUp(limit)),
                }
            }
            _ => false,
        })
    }

    /// Consumes `token`. Refused (with nothing changed) if it is not
    /// allowed. After an EOS token the matcher is finished.
    pub fn commit(&mut self, token: TokenId) -> Result<(), TokenError> {
        let vocabulary = self.constraint.index().vocabulary();
        let kind =
            vocabulary.kind(token).ok_or(TokenError::UnknownToken { token, vocabulary_len: vocabulary.len() })?;
        if self.finished {
            return Err(TokenError::Finished);
        }
        let not_allowed = TokenError::NotAllowed { token, consumed: self.matcher.consumed() };
        if vocabulary.is_eos(token) {
            if !self.matcher.is_complete() {
                return Err(not_allowed);
            }
            self.finished = true;
            self.committed += 1;
            return Ok(());
        }
        if !matches!(kind, TokenKind::Normal | TokenKind::ByteFallback) {
            return Err(not_allowed);
        }
        let bytes = vocabulary.token_bytes(token).unwrap_or_default();
        match self.matcher.advance(bytes) {
            Ok(()) => {
                self.committed += 1;
                Ok(())
            }
            Err(MatchError::Rejected { .. }) => Err(not_allowed),
            Err(error) => Err(TokenError::GaveUp(error)),
        }
    }

    /// Undoes the last `tokens` commits (an EOS included).
    pub fn rollback(&mut self, tokens: usize) -> Result<(), TokenError> {
        let available = self.committed.min(self.matcher.rollback_available() + usize::from(self.finished));
        if tokens > available {
            return Err(TokenError::Rollback { requested: tokens, available });
        }
        let mut remaining = tokens;
        if remaining > 0 && self.finished {
            self.finished = false;
            remaining -= 1;
        }
        self.matcher
            .rollback(remaining)
            .map_err(|e| TokenError::Rollback { requested: tokens, available: e.available })?;
        self.committed -= tokens;
        Ok(())
    }

    /// Whether the output so far is complete (EOS would be allowed).
    pub fn is_complete(&self) -> bool {
        !self.finished && self.matcher.is_complete()
    }

    /// Whether EOS was committed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The bytes every continuation must start with (jump-forward
    /// decoding): while exactly one byte can come next and the output is not
    /// complete, that byte is forced. Empty when the next byte is free. At
    /// most 4096 bytes.
    pub fn forced_bytes(&self) -> Vec<u8> {
        let mut forced = Vec::new();
        if self.finished {
            return forced;
        }
        let mut matcher = self.matcher.clone();
        while forced.len() < MAX_FORCED_BYTES && !matcher.is_complete() {
            let mut walker = ByteWalker::new(&matcher);
            let mut only = None;
            let mut count = 0;
            for byte in 0..=255u8 {
                if walker.enter(1, byte) {
                    count += 1;
                    only = Some(byte);
                    if count > 1 {
                        break;
                    }
                }
            }
            // A byte a limit left undecided may be viable: nothing is
            // forced past it.
            if walker.limit().is_some() {
                break;
            }
            match (count, only) {
                (1, Some(byte)) => {
                    if matcher.advance(&[byte]).is_err() {
                        break;
                    }
                    forced.push(byte);
                }
                _ => break,
            }
        }
        forced
    }
}
