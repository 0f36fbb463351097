//! `trellis`: check text against grammars, compile them with a vocabulary
//! into index files, inspect token masks, benchmark them, and generate text
//! with a model (constrained by a grammar).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod compile;
mod error;
mod generate;
mod grammar_source;
mod mask;
mod tokenizer_args;

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
    /// Compile a grammar and a vocabulary into an index file (precomputed masks) for --index
    Compile(compile::CompileArgs),
    /// Print the tokens a grammar allows after a prefix, as JSON
    Mask(mask::MaskArgs),
    /// Generate text with a model, streamed to stdout (constrained with --grammar)
    Generate(Box<generate::GenerateArgs>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are not errors; every other parse failure
            // is a usage error, with its own code (error.rs).
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { error::USAGE } else { 0 });
        }
    };
    error::exit(match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Check(args) => check::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Generate(args) => generate::run(*args),
        Command::Mask(args) => mask::run(args),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own checks of the flag definitions (unique names, valid
    /// groups), which otherwise only run when a command is parsed.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
