//! `trellis`: check text against grammars, compile them with a vocabulary
//! into index files, inspect token masks, benchmark them, and generate text
//! with a model (constrained by a grammar). The command is the
//! `trellis_cli` library; this is its process.

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stdout_is_terminal = stdout.is_terminal();
    let mut io = trellis_cli::Io { stdin: &mut stdin.lock(), stdout: &mut stdout.lock(), stdout_is_terminal };
    ExitCode::from(trellis_cli::run(std::env::args_os(), &mut io))
}
