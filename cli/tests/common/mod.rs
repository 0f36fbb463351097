//! Running the built `trellis` binary from the integration tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `trellis ARGS` in the repository root with `stdin` as its input.
pub fn trellis(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trellis");
    // A command that fails before reading its input (a grammar that does
    // not compile) may have closed the pipe already.
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait for trellis")
}

/// Output bytes as text for assertions and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
