//! Checkers: the test a candidate program must pass, with the message the
//! repair prompt feeds back when it fails.

use std::time::Duration;

use crate::command::{CommandError, CommandLimits, Exit, Finished, Invocation, ShellCommand, Stream};
use crate::sampler::Verifier;

/// A checker's verdict on one candidate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The candidate passes.
    Pass,
    /// It fails; `message` says why (a test's error output), in words the
    /// model is shown when it repairs the candidate.
    Fail { message: String },
}

impl Verdict {
    /// A failure with this message.
    pub fn fail(message: impl Into<String>) -> Verdict {
        Verdict::Fail { message: message.into() }
    }

    /// Whether it is [`Verdict::Pass`].
    pub fn passed(&self) -> bool {
        *self == Verdict::Pass
    }

    /// The failure's message (`None` for a pass).
    pub fn message(&self) -> Option<&str> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail { message } => Some(message),
        }
    }
}

/// A checker could not run at all (no shell, no temporary file): not the
/// same as failing the candidate, and it stops the synthesis.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the checker could not run: {0}")]
pub struct CheckerError(pub String);

impl From<CommandError> for CheckerError {
    fn from(error: CommandError) -> CheckerError {
        CheckerError(error.to_string())
    }
}

/// The test of a candidate: pass, or fail with a message.
///
/// Anything the candidate can make the test do — crash, hang, print
/// megabytes — must come back as a [`Verdict::Fail`] of that candidate;
/// [`CheckerError`] is for a checker that cannot run whatever the
/// candidate is. Any `FnMut(&[u8]) -> Verdict` is a checker:
///
/// ```
/// use trellis_engine::synthesis::{Checker, Verdict};
///
/// let mut even = |text: &[u8]| match text.len() % 2 {
///     0 => Verdict::Pass,
///     _ => Verdict::fail("odd length"),
/// };
/// assert_eq!(even.check(b"ab"), Ok(Verdict::Pass));
/// assert_eq!(even.check(b"abc").map(|v| v.message().map(str::to_owned)), Ok(Some("odd length".into())));
/// ```
pub trait Checker {
    /// The verdict on `candidate`.
    fn check(&mut self, candidate: &[u8]) -> Result<Verdict, CheckerError>;
}

impl<F: FnMut(&[u8]) -> Verdict> Checker for F {
    fn check(&mut self, candidate: &[u8]) -> Result<Verdict, CheckerError> {
        Ok(self(candidate))
    }
}

/// Any final [`Verifier`] of the samplers as a checker: its yes is a pass,
/// its no a failure with a fixed message (a verifier gives no reason), and
/// its error — a verifier that cannot give a verdict — a failure that says
/// so.
///
/// ```
/// use trellis_engine::synthesis::{Checker, VerifierChecker};
///
/// let mut short = VerifierChecker(|text: &[u8]| text.len() < 4);
/// assert!(short.check(b"abc")?.passed());
/// assert_eq!(short.check(b"abcd")?.message(), Some("rejected by the verifier"));
/// # Ok::<(), trellis_engine::synthesis::CheckerError>(())
/// ```
#[derive(Clone, Debug)]
pub struct VerifierChecker<V>(pub V);

impl<V: Verifier> Checker for VerifierChecker<V> {
    fn check(&mut self, candidate: &[u8]) -> Result<Verdict, CheckerError> {
        Ok(match self.0.verify(candidate) {
            Ok(true) => Verdict::Pass,
            Ok(false) => Verdict::fail("rejected by the verifier"),
            Err(error) => Verdict::fail(error.to_string()),
        })
    }
}

/// `sh -c COMMAND` as the test: `trellis synthesize --test CMD`. The
/// candidate is on the command's stdin and in a temporary file named by
/// `$TRELLIS_CANDIDATE`; exit status 0 passes. Otherwise the failure's
/// message is the command's stderr (its stdout when stderr is empty, then
/// the exit status), and a command that is killed by a signal, runs past
/// its timeout or writes past its output limit fails the candidate with a
/// message that says so ([`command`](crate::command) has the limits, and
/// the note that there is no sandbox).
///
/// Exit 126 and 127 (the shell could not run or find a command) fail the
/// candidate too, since the candidate may be what runs; the message names
/// the status, so that a typo in the test command shows in the first
/// failure.
///
/// ```
/// use trellis_engine::synthesis::{Checker, CommandChecker};
///
/// let mut test = CommandChecker::new(r#"grep -q 42 "$TRELLIS_CANDIDATE" || { echo "no 42 in it" >&2; exit 1; }"#);
/// assert!(test.check(b"6*7=42")?.passed());
/// assert_eq!(test.check(b"6*7")?.message(), Some("no 42 in it"));
/// # Ok::<(), trellis_engine::synthesis::CheckerError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandChecker {
    pub command: ShellCommand,
}

impl CommandChecker {
    /// `command` with the default limits ([`CommandLimits::default`]).
    pub fn new(command: impl Into<String>) -> CommandChecker {
        CommandChecker::with_limits(command, CommandLimits::default())
    }

    /// `command` with these limits; stdout is kept up to
    /// [`CommandLimits::max_stderr`] only, since it is only read as a
    /// message.
    pub fn with_limits(command: impl Into<String>, limits: CommandLimits) -> CommandChecker {
        let limits = CommandLimits { max_stdout: limits.max_stdout.min(limits.max_stderr), ..limits };
        CommandChecker {
            command: ShellCommand { limits, stdout: Stream::Keep, stderr: Stream::Keep, ..ShellCommand::new(command) },
        }
    }
}

impl Checker for CommandChecker {
    fn check(&mut self, candidate: &[u8]) -> Result<Verdict, CheckerError> {
        let invocation = Invocation { stdin: candidate, files: &[(CANDIDATE_VARIABLE, candidate)], env: &[] };
        let run = self.command.run(&invocation)?;
        Ok(match run.exit {
            Exit::Code(0) => Verdict::Pass,
            exit => {
                Verdict::fail(failure_message(&run, exit, self.command.limits.timeout, self.command.limits.max_stdout))
            }
        })
    }
}

/// The environment variable that names the candidate's file.
pub const CANDIDATE_VARIABLE: &str = "TRELLIS_CANDIDATE";

/// What a failed run says: its stderr (else stdout), after how it ended
/// when that was not a plain non-zero exit.
pub(crate) fn failure_message(run: &Finished, exit: Exit, timeout: Duration, max_stdout: usize) -> String {
    let said = match run.stderr_text().trim() {
        "" => String::from_utf8_lossy(&run.stdout).trim().to_string(),
        text => text.to_string(),
    };
    let how = describe_exit(exit, timeout, max_stdout);
    match (exit, said.is_empty()) {
        (Exit::Code(126 | 127) | Exit::Signal(_) | Exit::TimedOut | Exit::OutputTooLarge, false) => {
            format!("{how}: {said}")
        }
        (_, false) => said,
        (_, true) => how,
    }
}

/// How a run ended, in words.
pub(crate) fn describe_exit(exit: Exit, timeout: Duration, max_stdout: usize) -> String {
    match exit {
        Exit::Code(126) => "exit status 126 (a command could not run)".to_string(),
        Exit::Code(127) => "exit status 127 (a command was not found)".to_string(),
        Exit::Code(code) => format!("exit status {code}"),
        Exit::Signal(signal) => format!("killed by signal {signal}"),
        Exit::TimedOut => format!("timed out after {:.1} s (killed)", timeout.as_secs_f64()),
        Exit::OutputTooLarge => format!("wrote more than {max_stdout} bytes (killed)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(command: &str) -> CommandChecker {
        CommandChecker::with_limits(
            command,
            CommandLimits { timeout: Duration::from_millis(300), ..CommandLimits::default() },
        )
    }

    #[test]
    fn a_crashing_or_hanging_test_fails_the_candidate() {
        let hang = quick("sleep 30").check(b"x").expect("a verdict");
        assert!(hang.message().is_some_and(|m| m.starts_with("timed out after 0.3 s")), "{hang:?}");
        let crash = quick("echo segfault >&2; kill -SEGV $$").check(b"x").expect("a verdict");
        assert_eq!(crash.message(), Some("killed by signal 11: segfault"));
        let flood = quick("yes").check(b"x").expect("a verdict");
        assert!(flood.message().is_some_and(|m| m.starts_with("wrote more than")), "{flood:?}");
        let missing = quick("no-such-test-command-here").check(b"x").expect("a verdict");
        assert!(missing.message().is_some_and(|m| m.starts_with("exit status 127")), "{missing:?}");
    }

    #[test]
    fn the_message_is_stderr_then_stdout_then_the_status() {
        assert_eq!(quick("echo out; echo err >&2; exit 1").check(b"").expect("ran").message(), Some("err"));
        assert_eq!(quick("echo out; exit 1").check(b"").expect("ran").message(), Some("out"));
        assert_eq!(quick("exit 4").check(b"").expect("ran").message(), Some("exit status 4"));
        // stdin and the file hold the same candidate.
        let same = quick(r#"cmp -s - "$TRELLIS_CANDIDATE""#).check(b"1 + 2").expect("ran");
        assert!(same.passed(), "{same:?}");
    }
}
