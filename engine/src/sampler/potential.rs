//! Scores beyond the grammar: soft [`Potential`]s (twists, best-of-K
//! scorers) and hard final [`Verifier`]s.

use crate::command::{CommandLimits, Exit, Invocation, ShellCommand, Stream};

/// A non-negative score of text, in log space: the twist `ψ` of twisted SMC
/// (design.md §4) and the prefix score of [`BestOfK`](super::BestOfK).
///
/// `log_potential(prefix)` is `ln ψ(prefix)` for a prefix of an output
/// (`-inf` means ψ = 0: the prefix is never proposed); `log_final(text)` is
/// `ln φ(text)` for a finished output, the soft factor of the target
/// `σ ∝ a·b·φ`. By default `φ = ψ`. Twisted SMC is exact (as N grows) for
/// any ψ > 0 on the prefixes it meets; a ψ close to the true "value"
/// `E_a[b·φ | prefix]` makes it efficient.
///
/// Any `Fn(&[u8]) -> f64` is a potential with `φ = ψ`:
///
/// ```
/// use trellis_engine::sampler::Potential;
///
/// // Prefer texts with many 7s, softly.
/// let sevens = |text: &[u8]| 0.5 * text.iter().filter(|&&b| b == b'7').count() as f64;
/// assert_eq!(sevens.log_potential(b"177"), 1.0);
/// assert_eq!(sevens.log_final(b"177"), 1.0);
/// ```
pub trait Potential: Sync {
    /// `ln ψ(prefix)`.
    fn log_potential(&self, prefix: &[u8]) -> f64;

    /// `ln φ(text)` for a finished output.
    fn log_final(&self, text: &[u8]) -> f64 {
        self.log_potential(text)
    }
}

impl<F: Fn(&[u8]) -> f64 + Sync> Potential for F {
    fn log_potential(&self, prefix: &[u8]) -> f64 {
        self(prefix)
    }
}

/// A verifier could not give a verdict (a command that failed to start, a
/// crashed checker): not the same as rejecting the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the verifier failed: {0}")]
pub struct VerifierError(pub String);

/// A final 0/1 check of a finished output — a test suite, a toxicity
/// classifier, a leak checker — applied on top of the grammar as a hard
/// potential when an output ends. Rejection sampling stays exact and SMC
/// consistent for `g ∝ a·b_grammar·b_verifier`. Unlike the grammar it is
/// not checked on prefixes, so it is called once per finished output.
///
/// Any `FnMut(&[u8]) -> bool` is a verifier:
///
/// ```
/// use trellis_engine::sampler::Verifier;
///
/// let mut even_length = |text: &[u8]| text.len() % 2 == 0;
/// assert_eq!(even_length.verify(b"ab"), Ok(true));
/// ```
pub trait Verifier {
    /// Whether `text` is accepted.
    fn verify(&mut self, text: &[u8]) -> Result<bool, VerifierError>;
}

impl<F: FnMut(&[u8]) -> bool> Verifier for F {
    fn verify(&mut self, text: &[u8]) -> Result<bool, VerifierError> {
        Ok(self(text))
    }
}

/// A soft reward of `weight` nats per occurrence of `text` (overlapping
/// occurrences count), on prefixes and finished outputs alike: `trellis
/// generate --reward TEXT --reward-weight W`.
///
/// ```
/// use trellis_engine::sampler::{Occurrences, Potential};
///
/// let reward = Occurrences { text: b"ab".to_vec(), weight: 0.5 };
/// assert_eq!(reward.log_potential(b"xabyab"), 1.0);
/// assert_eq!(reward.log_final(b""), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrences {
    /// The text rewarded; empty rewards nothing.
    pub text: Vec<u8>,
    /// Nats per occurrence.
    pub weight: f64,
}

impl Potential for Occurrences {
    fn log_potential(&self, prefix: &[u8]) -> f64 {
        if self.text.is_empty() {
            return 0.0;
        }
        let occurrences = prefix.windows(self.text.len()).filter(|w| *w == self.text.as_slice()).count();
        self.weight * occurrences as f64
    }
}

/// A verifier that runs `sh -c COMMAND` with the text on its stdin and
/// accepts it iff the command exits with status 0: `trellis generate
/// --verify CMD`. The command runs with the caller's rights.
///
/// A command that cannot give a verdict is an error, not a rejection: one
/// that could not start, one the shell could not find or run (exit 127 or
/// 126), one killed by a signal, and one still running after `timeout`
/// (it is killed with what it started). The process handling is
/// [`ShellCommand`]'s.
///
/// ```
/// use trellis_engine::sampler::{CommandVerifier, Verifier};
///
/// let mut cats = CommandVerifier::new("grep -q cat");
/// assert_eq!(cats.verify(b"a cat"), Ok(true));
/// assert_eq!(cats.verify(b"a dog"), Ok(false));
/// assert!(CommandVerifier::new("no-such-command-here").verify(b"x").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandVerifier {
    /// The shell command.
    pub command: String,
    /// How long one verdict may take. Default 10 s.
    pub timeout: std::time::Duration,
}

impl CommandVerifier {
    /// `command` with the default timeout.
    pub fn new(command: impl Into<String>) -> CommandVerifier {
        CommandVerifier { command: command.into(), timeout: std::time::Duration::from_secs(10) }
    }
}

impl Verifier for CommandVerifier {
    fn verify(&mut self, text: &[u8]) -> Result<bool, VerifierError> {
        let command = &self.command;
        let shell = ShellCommand {
            limits: CommandLimits { timeout: self.timeout, ..CommandLimits::default() },
            stdout: Stream::Discard,
            stderr: Stream::Inherit,
            ..ShellCommand::new(command.clone())
        };
        let run = shell
            .run(&Invocation { stdin: text, ..Invocation::default() })
            .map_err(|e| VerifierError(e.to_string()))?;
        match run.exit {
            Exit::Code(0) => Ok(true),
            Exit::Code(127) => Err(VerifierError(format!("`{command}`: command not found (exit 127)"))),
            Exit::Code(126) => Err(VerifierError(format!("`{command}`: command cannot run (exit 126)"))),
            Exit::Code(_) => Ok(false),
            Exit::Signal(_) => Err(VerifierError(format!("`{command}` was killed by a signal"))),
            Exit::TimedOut => Err(VerifierError(format!(
                "`{command}` gave no verdict within {:.1} s (killed)",
                self.timeout.as_secs_f64()
            ))),
            // Stdout is discarded, so this cannot happen; were it to, it is
            // no verdict.
            Exit::OutputTooLarge => Err(VerifierError(format!("`{command}` wrote too much (killed)"))),
        }
    }
}
