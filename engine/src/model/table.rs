//! [`TableModel`]: an n-gram table over a small vocabulary.

use std::sync::Arc;

use trellis_token_index::{TokenId, Vocabulary};

use super::random::SplitMix64;
use super::sequences::SequenceTable;
use super::{LanguageModel, ModelError, SeqId, check_tokens, log_softmax};

/// Largest table, in floats (64 MB).
const MAX_TABLE_ENTRIES: usize = 1 << 24;

/// A language model that is a lookup table: the next-token distribution
/// depends only on the last `context_len` tokens.
///
/// It implements [`LanguageModel`] with no arithmetic at all (a sequence is
/// two integers, `logprobs` is a slice of the table), so a sampler test can
/// draw 10⁵ sequences in well under a second, and
/// [`next_logprobs`](Self::next_logprobs) lets the same test compute the
/// exact probability of every sequence to compare against.
///
/// Positions before the start of a sequence are an "absent" context symbol,
/// so an empty prompt is allowed and the first tokens have their own
/// distributions.
///
/// ```
/// use std::sync::Arc;
/// use trellis_engine::model::{LanguageModel, TableModel};
/// use trellis_token_index::{TokenKind, Vocabulary};
///
/// let vocabulary = Arc::new(Vocabulary::from_tokens(
///     vec![
///         (b"<eos>".to_vec(), TokenKind::Special),
///         (b"a".to_vec(), TokenKind::Normal),
///         (b"b".to_vec(), TokenKind::Normal),
///     ],
///     vec![0],
///     None,
/// )?);
/// // A bigram model: after "a", "b" is twice as likely as "a" or EOS.
/// let mut model = TableModel::from_fn(Arc::clone(&vocabulary), 1, |context| {
///     match context {
///         [Some(1)] => vec![0.0, 0.0, 2f32.ln()],
///         _ => vec![0.0, 0.0, 0.0],
///     }
/// })?;
/// let seq = model.start(&[1])?;
/// let p_b = model.logprobs(seq)?[2].exp();
/// assert!((p_b - 0.5).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TableModel {
    vocabulary: Arc<Vocabulary>,
    context_len: usize,
    /// `rows × vocabulary.len()` log-probabilities; row = context code.
    table: Vec<f32>,
    sequences: SequenceTable<TableSequence>,
}

#[derive(Clone, Copy, Debug)]
struct TableSequence {
    /// The last `context_len` tokens as a base-(V+1) number, most recent
    /// in the lowest digit, digit 0 meaning "before the start".
    context: usize,
    len: usize,
}

impl std::fmt::Debug for TableModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableModel")
            .field("vocabulary_len", &self.vocabulary.len())
            .field("context_len", &self.context_len)
            .field("live_sequences", &self.sequences.live())
            .finish_non_exhaustive()
    }
}

impl TableModel {
    /// A table whose logits are drawn N(0, 1.5²) from a fixed generator:
    /// the same `(vocabulary, context_len, seed)` gives the same model
    /// everywhere.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidSynthetic`] if the vocabulary is empty or the
    /// table would exceed 2²⁴ entries.
    pub fn random(vocabulary: Arc<Vocabulary>, context_len: usize, seed: u64) -> Result<TableModel, ModelError> {
        let mut rng = SplitMix64::new(seed);
        let len = vocabulary.len();
        TableModel::from_fn(vocabulary, context_len, |_| (0..len).map(|_| (rng.normal() * 1.5) as f32).collect())
    }

    /// A table from a function of the context: `logits(context)` returns
    /// one unnormalised log-weight per token (`-inf` for impossible
    /// tokens). `context` holds the last `context_len` tokens, oldest first,
    /// `None` where the sequence had not started yet.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidSynthetic`] if a row has the wrong length, a
    /// NaN or `+inf`, or no finite entry; or if the table is too large.
    pub fn from_fn(
        vocabulary: Arc<Vocabulary>,
        context_len: usize,
        mut logits: impl FnMut(&[Option<TokenId>]) -> Vec<f32>,
    ) -> Result<TableModel, ModelError> {
        let len = vocabulary.len();
        if len == 0 {
            return Err(invalid("the vocabulary is empty".into()));
        }
        let base = len + 1;
        let rows = u32::try_from(context_len)
            .ok()
            .and_then(|k| base.checked_pow(k))
            .filter(|rows| rows.checked_mul(len).is_some_and(|n| n <= MAX_TABLE_ENTRIES))
            .ok_or_else(|| {
                invalid(format!(
                    "a context of {context_len} over {len} tokens needs more than {MAX_TABLE_ENTRIES} entries"
                ))
            })?;
        let mut table = Vec::with_capacity(rows * len);
        let mut context = vec![None; context_len];
        for row in 0..rows {
            // Decode the row number into the context, oldest first.
            let mut code = row;
            for slot in context.iter_mut().rev() {
                let digit = code % base;
                code /= base;
                *slot = digit.checked_sub(1).map(|t| t as TokenId);
            }
            let row_logits = logits(&context);
            if row_logits.len() != len {
                return Err(invalid(format!("context {context:?}: {} logits for {len} tokens", row_logits.len())));
            }
            if row_logits.iter().any(|x| x.is_nan() || *x == f32::INFINITY) {
                return Err(invalid(format!("context {context:?}: NaN or +inf logit")));
            }
            if row_logits.iter().all(|x| *x == f32::NEG_INFINITY) {
                return Err(invalid(format!("context {context:?}: every token is impossible")));
            }
            table.extend(log_softmax(&row_logits));
        }
        Ok(TableModel { vocabulary, context_len, table, sequences: SequenceTable::default() })
    }

    /// Tokens of context the table looks at.
    pub fn context_len(&self) -> usize {
        self.context_len
    }

    /// The next-token log-probabilities after the whole history `tokens`
    /// (prompt and continuation), without starting a sequence: for tests
    /// that compute exact sequence probabilities.
    pub fn next_logprobs(&self, tokens: &[TokenId]) -> Result<&[f32], ModelError> {
        check_tokens(tokens, self.vocabulary.len())?;
        let context = tokens.iter().fold(0, |code, &t| self.push(code, t));
        Ok(self.row(context))
    }

    fn push(&self, context: usize, token: TokenId) -> usize {
        if self.context_len == 0 {
            return 0;
        }
        let base = self.vocabulary.len() + 1;
        let rows = self.table.len() / self.vocabulary.len();
        (context * base + token as usize + 1) % rows
    }

    fn row(&self, context: usize) -> &[f32] {
        let len = self.vocabulary.len();
        &self.table[context * len..(context + 1) * len]
    }
}

fn invalid(reason: String) -> ModelError {
    ModelError::InvalidSynthetic { reason }
}

impl LanguageModel for TableModel {
    fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocabulary
    }

    fn max_sequence_len(&self) -> usize {
        usize::MAX
    }

    fn start(&mut self, prompt: &[TokenId]) -> Result<SeqId, ModelError> {
        check_tokens(prompt, self.vocabulary.len())?;
        let context = prompt.iter().fold(0, |code, &t| self.push(code, t));
        Ok(self.sequences.insert(TableSequence { context, len: prompt.len() }))
    }

    fn append(&mut self, seq: SeqId, tokens: &[TokenId]) -> Result<(), ModelError> {
        check_tokens(tokens, self.vocabulary.len())?;
        let mut state = *self.sequences.get(seq)?;
        for &token in tokens {
            state.context = self.push(state.context, token);
        }
        state.len += tokens.len();
        *self.sequences.get_mut(seq)? = state;
        Ok(())
    }

    fn extend(&mut self, steps: &[(SeqId, TokenId)]) -> Result<(), ModelError> {
        self.sequences.check_batch(steps.iter().map(|&(seq, _)| seq))?;
        let tokens: Vec<TokenId> = steps.iter().map(|&(_, t)| t).collect();
        check_tokens(&tokens, self.vocabulary.len())?;
        for &(seq, token) in steps {
            let mut state = *self.sequences.get(seq)?;
            state.context = self.push(state.context, token);
            state.len += 1;
            *self.sequences.get_mut(seq)? = state;
        }
        Ok(())
    }

    fn logprobs(&self, seq: SeqId) -> Result<&[f32], ModelError> {
        Ok(self.row(self.sequences.get(seq)?.context))
    }

    fn sequence_len(&self, seq: SeqId) -> Result<usize, ModelError> {
        Ok(self.sequences.get(seq)?.len)
    }

    fn fork(&mut self, seq: SeqId) -> Result<SeqId, ModelError> {
        let state = *self.sequences.get(seq)?;
        Ok(self.sequences.insert(state))
    }

    fn drop_sequence(&mut self, seq: SeqId) -> Result<(), ModelError> {
        self.sequences.remove(seq).map(drop)
    }

    fn live_sequences(&self) -> usize {
        self.sequences.live()
    }
}

#[cfg(test)]
mod tests {
    use trellis_token_index::TokenKind;

    use super::*;

    fn vocabulary() -> Arc<Vocabulary> {
        let tokens = ["<eos>", "a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let kind = if i == 0 { TokenKind::Special } else { TokenKind::Normal };
                (t.as_bytes().to_vec(), kind)
            })
            .collect();
        Arc::new(Vocabulary::from_tokens(tokens, vec![0], None).unwrap())
    }

    /// What exactness tests do: enumerate every sequence up to a length,
    /// with its probability from `next_logprobs`, and check that the
    /// model's live sequences agree. The probabilities of all sequences
    /// that end in EOS, plus those cut at the length limit, sum to 1.
    #[test]
    fn enumeration_is_consistent_with_live_sequences() {
        let mut model = TableModel::random(vocabulary(), 2, 3).unwrap();
        let max_len = 4;
        let mut total = 0.0f64;
        let mut frontier = vec![(Vec::<TokenId>::new(), 0.0f64)];
        while let Some((prefix, logp)) = frontier.pop() {
            let next = model.next_logprobs(&prefix).unwrap().to_vec();
            let seq = model.start(&prefix).unwrap();
            assert_eq!(model.logprobs(seq).unwrap(), next.as_slice());
            model.drop_sequence(seq).unwrap();
            for (token, &lp) in next.iter().enumerate() {
                let logp = logp + f64::from(lp);
                let mut extended = prefix.clone();
                extended.push(token as TokenId);
                if token == 0 || extended.len() == max_len {
                    total += logp.exp();
                } else {
                    frontier.push((extended, logp));
                }
            }
        }
        assert!((total - 1.0).abs() < 1e-5, "{total}");
    }

    #[test]
    fn the_same_seed_gives_the_same_table() {
        let a = TableModel::random(vocabulary(), 1, 9).unwrap();
        let b = TableModel::random(vocabulary(), 1, 9).unwrap();
        let c = TableModel::random(vocabulary(), 1, 10).unwrap();
        assert_eq!(a.next_logprobs(&[1]).unwrap(), b.next_logprobs(&[1]).unwrap());
        assert_ne!(a.next_logprobs(&[1]).unwrap(), c.next_logprobs(&[1]).unwrap());
    }

    #[test]
    fn forks_extends_and_reorders_follow_the_context() {
        let mut model = TableModel::random(vocabulary(), 2, 4).unwrap();
        let a = model.start(&[1]).unwrap();
        let b = model.start(&[2, 3]).unwrap();
        let fork = model.fork(a).unwrap();
        model.extend(&[(a, 2), (fork, 3), (b, 1)]).unwrap();
        assert_eq!(model.logprobs(a).unwrap(), model.next_logprobs(&[1, 2]).unwrap());
        assert_eq!(model.logprobs(fork).unwrap(), model.next_logprobs(&[1, 3]).unwrap());
        let particles = model.reorder(&[a, fork, b], &[2, 2, 0]).unwrap();
        assert_eq!(model.live_sequences(), 3);
        assert_eq!(model.logprobs(particles[1]).unwrap(), model.next_logprobs(&[2, 3, 1]).unwrap());
        assert_eq!(model.logprobs(particles[2]).unwrap(), model.next_logprobs(&[1, 2]).unwrap());
        assert_eq!(model.sequence_len(particles[0]).unwrap(), 3);
    }
}
