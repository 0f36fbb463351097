//! Scores beyond the grammar: soft [`Potential`]s (twists, best-of-K
//! scorers) and hard final [`Verifier`]s.

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
/// (it is killed).
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
        use std::io::Write;
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};
        let command = &self.command;
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(command).stdin(Stdio::piped()).stdout(Stdio::null());
        // Its own process group, so that a timeout stops what the command
        // started too (a pipeline, a `sleep` under the shell), not only the
        // shell.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut shell, 0);
        let mut child = shell.spawn().map_err(|e| VerifierError(format!("cannot run `{command}`: {e}")))?;
        // Written from a thread, so that a command that reads nothing and
        // runs on cannot block us past the timeout on a full pipe.
        let writer = child.stdin.take().map(|mut stdin| {
            let text = text.to_vec();
            std::thread::spawn(move || stdin.write_all(&text))
        });
        let started = Instant::now();
        let mut pause = Duration::from_micros(200);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    #[cfg(unix)]
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .stderr(Stdio::null())
                        .status();
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(VerifierError(format!(
                        "`{command}` gave no verdict within {:.1} s (killed)",
                        self.timeout.as_secs_f64()
                    )));
                }
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) => return Err(VerifierError(format!("waiting for `{command}`: {e}"))),
            }
        };
        if let Some(Ok(Err(e))) = writer.map(|thread| thread.join()) {
            // A checker that exits without reading all of its input closes
            // the pipe: that is its verdict, not an error.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(VerifierError(format!("writing to `{command}`: {e}")));
            }
        }
        match status.code() {
            Some(0) => Ok(true),
            Some(127) => Err(VerifierError(format!("`{command}`: command not found (exit 127)"))),
            Some(126) => Err(VerifierError(format!("`{command}`: command cannot run (exit 126)"))),
            Some(_) => Ok(false),
            None => Err(VerifierError(format!("`{command}` was killed by a signal"))),
        }
    }
}
