//! Shared by the command-line targets: a fuzz input becomes an argument
//! list and a stdin, and the whole `trellis` command runs in-process.
//!
//! The input is split at 0xFF bytes into words; the last word is stdin. A
//! word whose first byte is below the dictionary's length is that entry
//! (flags and values the commands know, bundled grammars by absolute
//! path); any other is free text, with `/` removed so that it can name no
//! file outside the scratch folder the target runs in. Numbers above 64
//! become 64 (each run must stay short), and `--verify` never gets through:
//! it would run fuzzed shell commands.

use std::path::PathBuf;
use std::sync::OnceLock;

const LIBRARY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library/");

/// The folder the targets run in (their files land there), and a tiny
/// model written once into it.
pub fn scratch() -> &'static PathBuf {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("trellis-fuzz-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        trellis_tests::tiny_model(&dir.join("tiny-model")).expect("tiny model");
        std::env::set_current_dir(&dir).expect("enter the scratch folder");
        dir
    })
}

/// The argument words and stdin of `data`, after `command`'s words.
pub fn command_line(command: &[&str], dictionary: &[&str], data: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut words: Vec<&[u8]> = data.split(|&byte| byte == 0xFF).collect();
    let stdin = words.pop().unwrap_or_default().to_vec();
    let mut args: Vec<String> = std::iter::once("trellis").chain(command.iter().copied()).map(String::from).collect();
    for word in words.into_iter().take(24) {
        let text = match word.first() {
            Some(&index) if usize::from(index) < dictionary.len() => dictionary[usize::from(index)].to_string(),
            _ => String::from_utf8_lossy(word).replace('/', ""),
        };
        let text = match text.parse::<f64>() {
            Ok(number) if number > 64.0 => "64".to_string(),
            _ => text,
        };
        if text.starts_with("--verify") {
            continue;
        }
        args.push(text);
    }
    (args, stdin)
}

/// Runs the command line; its exit code must be one of the table's.
pub fn run(args: &[String], stdin: &[u8]) {
    let mut input = stdin;
    let mut output = Vec::new();
    let mut io = trellis_cli::Io { stdin: &mut input, stdout: &mut output, stdout_is_terminal: false };
    let code = trellis_cli::run(args, &mut io);
    assert!(matches!(code, 0..=4 | 64), "exit code {code} is not in the table, for {args:?}");
}

/// A bundled grammar's absolute path.
pub fn library(name: &str) -> String {
    format!("{LIBRARY}{name}")
}
