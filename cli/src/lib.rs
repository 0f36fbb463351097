//! The `trellis` command as a library: [`run`] takes the arguments and the
//! standard streams ([`Io`]) and returns the exit code, so that the binary
//! (`main.rs`) is one call and the fuzz targets drive the whole command
//! line in-process.
//!
//! Every subcommand is parse → set up → run: clap parses the flags (one
//! struct per concern, flattened: `GrammarArgs` in `grammar_source.rs` for
//! the grammar of every command, `TokenizerArgs` for vocabularies); each
//! command validates what clap cannot before loading anything; the work
//! itself is the libraries' (`trellis-grammars`, `trellis-token-index`,
//! `trellis-engine`). Errors and exit codes are decided in one place,
//! `error.rs`, whose table the README repeats.
//!
//! ```
//! let mut input: &[u8] = b"[1, 2]";
//! let mut output = Vec::new();
//! let mut io = trellis_cli::Io { stdin: &mut input, stdout: &mut output, stdout_is_terminal: false };
//! let code = trellis_cli::run(["trellis", "check", "--grammar-text", r"\[[0-9, ]*\]", "--format", "regex"], &mut io);
//! assert_eq!(code, 0);
//! assert!(String::from_utf8_lossy(&output).starts_with("complete"));
//! ```

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::{Parser, Subcommand};

mod bench;
mod bench_model;
mod check;
mod compile;
mod error;
mod generate;
mod grammar_source;
mod mask;
mod synthesize;
mod tokenizer_args;

/// The standard streams a command reads and writes (stderr is the
/// process's: messages and progress).
pub struct Io<'a> {
    pub stdin: &'a mut dyn BufRead,
    pub stdout: &'a mut dyn Write,
    /// Whether stdout is a terminal (no progress line then while text is
    /// streamed to it).
    pub stdout_is_terminal: bool,
}

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
    /// Time the model: prefill and batched decode tokens/s, peak memory, as one JSON object
    BenchModel(bench_model::BenchModelArgs),
    /// Check text against a grammar: is it in the language, or a viable prefix?
    Check(check::CheckArgs),
    /// Compile a grammar and a vocabulary into an index file (precomputed masks) for --index
    Compile(compile::CompileArgs),
    /// Print the tokens a grammar allows after a prefix, as JSON
    Mask(mask::MaskArgs),
    /// Generate text with a model, streamed to stdout (constrained with --grammar)
    Generate(Box<generate::GenerateArgs>),
    /// Synthesize programs: sample candidates, keep those that pass --test, repair the others, cluster by behaviour
    Synthesize(Box<synthesize::SynthesizeArgs>),
}

/// Runs the command line `args` (the program name first) over `io` and
/// returns its exit code (the table in the README).
pub fn run<I, T>(args: I, io: &mut Io<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are not errors; every other parse failure
            // is a usage error, with its own code (error.rs).
            let _ = error.print();
            return if error.use_stderr() { error::USAGE } else { 0 };
        }
    };
    error::exit(match cli.command {
        Command::Bench(args) => bench::run(args, io),
        Command::BenchModel(args) => bench_model::run(args, io),
        Command::Check(args) => check::run(args, io),
        Command::Compile(args) => compile::run(args, io),
        Command::Generate(args) => generate::run(*args, io),
        Command::Mask(args) => mask::run(args, io),
        Command::Synthesize(args) => synthesize::run(*args, io),
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
