//! `trellis`: check text against grammars (and, as the other layers land,
//! compile indices, generate, benchmark).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod grammar_source;

#[derive(Parser)]
#[command(name = "trellis", version, about = "Constrained decoding with exact masks", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check text against a grammar: is it in the language, or a viable prefix?
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::run(args),
    }
}
