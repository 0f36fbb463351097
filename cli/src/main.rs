//! `trellis`: check text against grammars (and, as the other layers land,
//! compile indices, generate, benchmark).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod generate;
mod grammar_source;

#[derive(Parser)]
#[command(name = "trellis", version, about = "Constrained decoding with exact masks", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Time per-token masks on documents: one JSON object of figures
    Bench(bench::BenchArgs),
    /// Check text against a grammar: is it in the language, or a viable prefix?
    Check(check::CheckArgs),
    /// Generate text with a model (unconstrained), streamed to stdout
    Generate(generate::GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Check(args) => check::run(args),
        Command::Generate(args) => generate::run(args),
    }
}
