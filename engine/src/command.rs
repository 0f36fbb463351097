//! Running a shell command on a text, within limits: the one piece of
//! process machinery behind `trellis generate --verify`
//! ([`CommandVerifier`](crate::sampler::CommandVerifier)) and the tests and
//! runs of program synthesis
//! ([`CommandChecker`](crate::synthesis::CommandChecker),
//! [`CommandRunner`](crate::synthesis::CommandRunner)).
//!
//! A [`ShellCommand`] is `sh -c COMMAND`, started with the caller's rights
//! and environment: **there is no sandbox**. A command given a candidate
//! program to run can do whatever that user can; run untrusted candidates
//! inside a container, a VM or a throw-away account, and let the command
//! itself do so (`bwrap ...`, `docker run ...`).
//!
//! What it guarantees is that a command cannot take the caller down with
//! it:
//!
//! - **Time**: each run has a timeout ([`CommandLimits::timeout`]); past it
//!   the command is killed with everything it started — it runs in a
//!   process group of its own, and the whole group is killed, so that a
//!   pipeline or a `sleep` under the shell stops too, not only the shell.
//! - **Memory**: what is kept of stdout and stderr is bounded
//!   ([`CommandLimits::max_stdout`], [`CommandLimits::max_stderr`]). Past
//!   the stdout bound the command is killed and the run reports
//!   [`Exit::OutputTooLarge`] (a truncated output would compare equal to
//!   another one that differs later); past the stderr bound the rest of
//!   stderr is read and dropped, and counted.
//! - **No deadlock on pipes**: stdin is written, and stdout and stderr are
//!   read, from threads of their own, so that a command that reads nothing,
//!   or writes a lot before reading, cannot block the caller past the
//!   timeout. The caller polls the child (backing off from 0.2 ms to 20 ms)
//!   rather than blocking in `wait`, which has no timeout.
//!
//! What the command did is an [`Exit`]; only a failure to start it at all
//! (no `sh`, no temporary directory) is an error ([`CommandError`]). What an
//! exit *means* — a rejection, an error — is for the caller to say.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bounds of one run of a [`ShellCommand`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLimits {
    /// How long one run may take before it is killed. Default 10 s: a test
    /// suite of a small program, with room for an interpreter to start.
    pub timeout: Duration,
    /// The most bytes of stdout kept; a command that writes more is killed
    /// ([`Exit::OutputTooLarge`]). Default 1 MiB: program outputs compared
    /// by clustering are held for every candidate and input, so this bounds
    /// that memory (1 MiB × candidates × inputs at worst).
    pub max_stdout: usize,
    /// The most bytes of stderr kept; the rest is read and dropped (its
    /// size is reported). Default 64 KiB: stderr is an error message, fed
    /// back into a prompt, where a few kilobytes are already many tokens.
    pub max_stderr: usize,
}

impl Default for CommandLimits {
    fn default() -> Self {
        CommandLimits { timeout: Duration::from_secs(10), max_stdout: 1 << 20, max_stderr: 64 << 10 }
    }
}

/// What becomes of a command's stdout or stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Kept, up to the limit.
    Keep,
    /// Dropped (`/dev/null`).
    Discard,
    /// The caller's own stream (a verifier's messages on the terminal).
    Inherit,
}

/// `sh -c COMMAND`, with its limits and what happens to its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellCommand {
    /// The shell command.
    pub command: String,
    pub limits: CommandLimits,
    pub stdout: Stream,
    pub stderr: Stream,
}

/// What one run is given: its stdin, files named by environment variables,
/// and other environment variables.
#[derive(Clone, Copy, Debug, Default)]
pub struct Invocation<'a> {
    /// Written to the command's stdin (from a thread; a command that does
    /// not read it all is not an error).
    pub stdin: &'a [u8],
    /// Each `(NAME, contents)` is written to a fresh temporary file (mode
    /// 0600 on Unix) whose path is put in the environment variable `NAME`;
    /// the file is removed when the run ends.
    pub files: &'a [(&'a str, &'a [u8])],
    /// More environment variables.
    pub env: &'a [(&'a str, &'a str)],
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// It was killed by this signal (not by us).
    Signal(i32),
    /// It ran past [`CommandLimits::timeout`] and was killed.
    TimedOut,
    /// It wrote more than [`CommandLimits::max_stdout`] bytes and was
    /// killed.
    OutputTooLarge,
}

impl Exit {
    /// Whether it exited with status 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub exit: Exit,
    /// Stdout, when kept (at most [`CommandLimits::max_stdout`] bytes).
    pub stdout: Vec<u8>,
    /// Stderr, when kept (at most [`CommandLimits::max_stderr`] bytes).
    pub stderr: Vec<u8>,
    /// Bytes of stderr past the limit, read and dropped.
    pub stderr_dropped: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

impl Finished {
    /// Stderr as text, with a note of what was dropped.
    pub fn stderr_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.stderr).into_owned();
        if self.stderr_dropped > 0 {
            text.push_str(&format!("… ({} more bytes)", self.stderr_dropped));
        }
        text
    }
}

/// A command could not be run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// `sh` could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    /// A temporary file for the command could not be written.
    #[error("cannot write a temporary file for `{command}`: {source}")]
    TempFile { command: String, source: std::io::Error },
    /// Waiting for the command failed.
    #[error("waiting for `{command}`: {source}")]
    Wait { command: String, source: std::io::Error },
    /// Writing its stdin failed otherwise than by the command closing it.
    #[error("writing to `{command}`: {source}")]
    Write { command: String, source: std::io::Error },
}

impl ShellCommand {
    /// `command` with the default limits, stdout and stderr kept.
    pub fn new(command: impl Into<String>) -> ShellCommand {
        ShellCommand {
            command: command.into(),
            limits: CommandLimits::default(),
            stdout: Stream::Keep,
            stderr: Stream::Keep,
        }
    }

    /// One run.
    ///
    /// ```
    /// use trellis_engine::command::{Exit, Invocation, ShellCommand};
    ///
    /// let upper = ShellCommand::new("tr a-z A-Z; echo oops >&2; exit 3");
    /// let run = upper.run(&Invocation { stdin: b"abc", ..Invocation::default() })?;
    /// assert_eq!((run.exit, run.stdout.as_slice(), run.stderr.as_slice()), (Exit::Code(3), &b"ABC"[..], &b"oops\n"[..]));
    ///
    /// let file = ShellCommand::new(r#"cat "$PROGRAM""#);
    /// let run = file.run(&Invocation { files: &[("PROGRAM", b"1+1")], ..Invocation::default() })?;
    /// assert_eq!(run.stdout, b"1+1");
    /// # Ok::<(), trellis_engine::command::CommandError>(())
    /// ```
    pub fn run(&self, invocation: &Invocation<'_>) -> Result<Finished, CommandError> {
        let started = Instant::now();
        let command = &self.command;
        let files = TempFiles::write(invocation.files)
            .map_err(|source| CommandError::TempFile { command: command.clone(), source })?;
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(command).stdin(Stdio::piped());
        shell.stdout(stdio(self.stdout)).stderr(stdio(self.stderr));
        for (name, path) in &files.paths {
            shell.env(name, path);
        }
        for (name, value) in invocation.env {
            shell.env(name, value);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut shell, 0);
        let mut child = shell.spawn().map_err(|source| CommandError::Spawn { command: command.clone(), source })?;

        let writer = child.stdin.take().map(|mut stdin| {
            let text = invocation.stdin.to_vec();
            std::thread::spawn(move || stdin.write_all(&text))
        });
        let too_large = Arc::new(AtomicBool::new(false));
        let stdout = child.stdout.take().map(|pipe| Reader::spawn(pipe, self.limits.max_stdout, Some(&too_large)));
        let stderr = child.stderr.take().map(|pipe| Reader::spawn(pipe, self.limits.max_stderr, None));

        let mut status = None;
        let mut pause = Duration::from_micros(200);
        let exit = loop {
            if status.is_none() {
                status = child.try_wait().map_err(|source| CommandError::Wait { command: command.clone(), source })?;
            }
            // Done when the shell has exited and its pipes are closed (a
            // process it left behind may still hold them: the timeout
            // covers that too).
            let drained =
                stdout.as_ref().is_none_or(Reader::is_finished) && stderr.as_ref().is_none_or(Reader::is_finished);
            match status {
                // First: the reader stops at the limit, so a command may
                // then die of SIGPIPE (exit 141 under a shell) and look
                // finished.
                _ if too_large.load(Ordering::Relaxed) => {
                    kill(&mut child, status.is_none());
                    break Exit::OutputTooLarge;
                }
                Some(status) if drained => break exit_of(status),
                _ if started.elapsed() >= self.limits.timeout => {
                    kill(&mut child, status.is_none());
                    break Exit::TimedOut;
                }
                _ => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        };
        if let Some(thread) = writer.filter(JoinHandle::is_finished)
            && let Ok(Err(source)) = thread.join()
            // A command that exits without reading all of its input
            // closes the pipe: that is its business, not an error.
            && source.kind() != std::io::ErrorKind::BrokenPipe
            && matches!(exit, Exit::Code(_))
        {
            return Err(CommandError::Write { command: command.clone(), source });
        }
        let (stdout, _) = stdout.map(Reader::take).unwrap_or_default();
        let (stderr, stderr_dropped) = stderr.map(Reader::take).unwrap_or_default();
        drop(files);
        Ok(Finished { exit, stdout, stderr, stderr_dropped, seconds: started.elapsed().as_secs_f64() })
    }
}

fn stdio(stream: Stream) -> Stdio {
    match stream {
        Stream::Keep => Stdio::piped(),
        Stream::Discard => Stdio::null(),
        Stream::Inherit => Stdio::inherit(),
    }
}

#[cfg(unix)]
fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Signal(0),
    }
}

#[cfg(not(unix))]
fn exit_of(status: std::process::ExitStatus) -> Exit {
    status.code().map_or(Exit::Signal(0), Exit::Code)
}

/// Kills the command's process group, and the shell itself when it has
/// not been waited for. After the shell has been waited for, its group id
/// is still safe to signal while anything it left behind lives: POSIX does
/// not reuse a process group id before the group's lifetime ends.
fn kill(child: &mut Child, running: bool) {
    #[cfg(unix)]
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
    if running {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A thread reading one pipe into a bounded buffer. The buffer is shared
/// rather than returned by `join`, so that the caller can take what was
/// read even when something the command left behind keeps the pipe open
/// (the thread then ends with that process).
struct Reader {
    thread: JoinHandle<()>,
    kept: Arc<Mutex<(Vec<u8>, u64)>>,
}

impl Reader {
    fn spawn(mut pipe: impl Read + Send + 'static, limit: usize, overflow: Option<&Arc<AtomicBool>>) -> Reader {
        let kept = Arc::new(Mutex::new((Vec::new(), 0u64)));
        let shared = Arc::clone(&kept);
        let overflow = overflow.cloned();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                let read = match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => read,
                };
                let Ok(mut kept) = shared.lock() else { return };
                let (buffer, dropped) = &mut *kept;
                let room = limit.saturating_sub(buffer.len()).min(read);
                buffer.extend_from_slice(&chunk[..room]);
                *dropped += (read - room) as u64;
                if *dropped > 0
                    && let Some(flag) = &overflow
                {
                    // The caller kills the command; reading on is useless.
                    flag.store(true, Ordering::Relaxed);
                    return;
                }
            }
        });
        Reader { thread, kept }
    }

    fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    fn take(self) -> (Vec<u8>, u64) {
        self.kept.lock().map(|mut kept| std::mem::take(&mut *kept)).unwrap_or_default()
    }
}

/// Temporary files named by environment variables, removed on drop.
struct TempFiles {
    paths: Vec<(String, PathBuf)>,
}

impl TempFiles {
    fn write(files: &[(&str, &[u8])]) -> std::io::Result<TempFiles> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut written = TempFiles { paths: Vec::with_capacity(files.len()) };
        for (name, contents) in files {
            let number = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("trellis-{}-{number}", std::process::id()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path)?;
            written.paths.push((name.to_string(), path));
            file.write_all(contents)?;
        }
        Ok(written)
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for (_, path) in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(command: &str) -> ShellCommand {
        let mut command = ShellCommand::new(command);
        command.limits.timeout = Duration::from_millis(500);
        command
    }

    #[test]
    fn a_hanging_command_and_what_it_started_are_killed() {
        let run = quick("sleep 30 | sleep 30").run(&Invocation::default()).expect("runs");
        assert_eq!(run.exit, Exit::TimedOut);
        // A background process holding stdout open past the shell's exit.
        let run = quick("(sleep 30 &) ; echo started").run(&Invocation::default()).expect("runs");
        assert_eq!(run.exit, Exit::TimedOut);
        assert_eq!(run.stdout, b"started\n");
    }

    #[test]
    fn output_past_the_limits_is_bounded() {
        let mut command = quick("yes");
        command.limits.max_stdout = 1000;
        let run = command.run(&Invocation::default()).expect("runs");
        assert_eq!(run.exit, Exit::OutputTooLarge);
        assert_eq!(run.stdout.len(), 1000);
        let mut command = quick("head -c 5000 /dev/zero >&2; echo done");
        command.limits.max_stderr = 100;
        let run = command.run(&Invocation::default()).expect("runs");
        assert_eq!((run.exit, run.stdout.as_slice()), (Exit::Code(0), &b"done\n"[..]));
        assert_eq!((run.stderr.len(), run.stderr_dropped), (100, 4900));
        assert!(run.stderr_text().ends_with("(4900 more bytes)"));
    }

    #[test]
    fn signals_and_unread_input_are_reported_as_they_are() {
        let run = quick("kill -TERM $$").run(&Invocation::default()).expect("runs");
        assert_eq!(run.exit, Exit::Signal(15));
        // 1 MB on stdin that the command never reads.
        let big = vec![b'x'; 1 << 20];
        let run = quick("exit 0").run(&Invocation { stdin: &big, ..Invocation::default() }).expect("runs");
        assert!(run.exit.success());
    }

    #[test]
    fn files_and_variables_reach_the_command_and_files_are_removed() {
        let command = quick(r#"printf '%s:' "$WHO"; cat "$PROGRAM"; echo "$PROGRAM" >&2"#);
        let invocation = Invocation { files: &[("PROGRAM", b"x*2")], env: &[("WHO", "me")], ..Invocation::default() };
        let run = command.run(&invocation).expect("runs");
        assert_eq!(run.stdout, b"me:x*2");
        let path = String::from_utf8_lossy(&run.stderr).trim_end().to_string();
        assert!(!path.is_empty() && !std::path::Path::new(&path).exists(), "{path:?} left behind");
    }
}
