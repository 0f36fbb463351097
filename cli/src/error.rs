//! How a command ends: one table of exit codes for every subcommand, one
//! error type, and one place that reports errors and handles a closed
//! stdout.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; `check`: the input is in the language (with `--prefix`: a viable prefix) |
//! | 1 | a negative answer: `check`: the input is not in the language; `mask`: the prefix is not viable; `generate`: no valid output could be produced; `synthesize`: no candidate passed `--test` |
//! | 2 | invalid input: a grammar, an index file, a model, a tokenizer, a prompt, a setting out of range or that does not apply |
//! | 3 | undecided: `check` gave up (the grammar is too ambiguous on the input, or its lazy lexer ran out of states); `mask`: a limit left some token undecided |
//! | 4 | reading input or writing output failed |
//! | 64 | the command line could not be parsed (an unknown flag or value, a missing argument); `--help` and `--version` exit 0 |
//!
//! A closed stdout (`trellis ... | head`) is not a failure: the command
//! stops quietly with the code it would have had so far (0).

use std::io;

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1: the answer is no (it was already printed).
    No,
    /// Exit 3: the answer could not be decided (already printed).
    Undecided,
}

/// Why a command failed; the message is printed as `error: ...`.
#[derive(Debug)]
pub enum CliError {
    /// Exit 64: the command line is incomplete in a way clap cannot see
    /// (a grammar is required by some commands and optional for others).
    Usage(String),
    /// Exit 2: something the user gave is invalid.
    Input(String),
    /// Exit 4 (or a quiet 0 for a closed stdout).
    Io(io::Error),
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> CliError {
        CliError::Io(error)
    }
}

/// The exit code of a command line that could not be parsed.
pub const USAGE: u8 = 64;

/// A message about something the user gave (exit 2).
impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Input(message)
    }
}

/// The exit code of a command's result, after reporting its error.
pub fn exit(result: Result<Status, CliError>) -> u8 {
    let code: u8 = match result {
        Ok(Status::Success) => 0,
        Ok(Status::No) => 1,
        Ok(Status::Undecided) => 3,
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            USAGE
        }
        Err(CliError::Input(message)) => {
            eprintln!("error: {message}");
            2
        }
        Err(CliError::Io(error)) if error.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(CliError::Io(error)) => {
            eprintln!("error: reading input or writing output failed: {error}");
            4
        }
    };
    code
}

/// Prints one line to stdout and flushes it.
pub fn print_line(io: &mut crate::Io<'_>, line: &str) -> Result<Status, CliError> {
    writeln!(io.stdout, "{line}")?;
    io.stdout.flush()?;
    Ok(Status::Success)
}
