//! Runs the real `webhook` binary, with an environment cleared of the variables it reads.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary, with no DATABASE_URL or secret inherited from the environment.
pub(crate) fn webhook() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_webhook"));
    cmd.env_remove("DATABASE_URL").stdin(Stdio::null());
    cmd
}

/// Runs `webhook args...` with nothing on standard input.
pub(crate) fn run(args: &[&str]) -> Output {
    webhook().args(args).output().expect("run webhook")
}

/// Runs `cmd` with `input` on standard input.
pub(crate) fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn webhook");
    // A command that refuses its arguments exits before reading its input: the pipe is then
    // closed under the write, and its exit code and stderr are what the test checks.
    if let Err(e) = child.stdin.take().expect("stdin").write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait for webhook")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The exit code, with both streams in the message when it is not `expected`.
pub(crate) fn assert_exit(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Standard output parsed as JSON.
pub(crate) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}
