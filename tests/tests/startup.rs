//! A receiver with a bad setting stops at startup, naming the variable, with exit code 2
//! for a setting that cannot be read and 1 for a store it cannot open; it never starts
//! serving half configured. Run against the three receiver binaries.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINS: [(&str, &str); 3] = [
    ("axum", env!("CARGO_BIN_EXE_test-axum-receiver")),
    ("actix", env!("CARGO_BIN_EXE_test-actix-receiver")),
    ("tower", env!("CARGO_BIN_EXE_test-tower-receiver")),
];

/// Runs `bin` with exactly `vars` (and a free address), waits for it to exit (bounded: a
/// receiver that starts serving instead is killed and fails the test), and returns its
/// exit code and stderr.
fn run(bin: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::env::temp_dir().join(format!("webhook-startup-{}-{port}.log", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("WEBHOOK_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} with {vars:?} did not stop within 30 s:\n{}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    (status.code(), stderr)
}

/// The environment, the exit code, and what stderr must say.
type Case = (&'static [(&'static str, &'static str)], i32, &'static str);

#[test]
fn a_bad_setting_stops_each_receiver_at_startup_naming_the_variable() {
    let cases: [Case; 5] = [
        (&[("STANDARD_WEBHOOK_SECRET", "whsec_!!")], 2, "STANDARD_WEBHOOK_SECRET: "),
        (
            &[("GITHUB_WEBHOOK_SECRET", "s"), ("GITHUB_WEBHOOK_ALLOW_IPS", "10.0.0.0/33")],
            2,
            "GITHUB_WEBHOOK_ALLOW_IPS: ",
        ),
        (&[("GITHUB_WEBHOOK_SECRET", "s"), ("WEBHOOK_TRUSTED_PROXIES", "proxy")], 2, "WEBHOOK_TRUSTED_PROXIES: "),
        // Nothing listens on port 1: refused at once.
        (
            &[("GITHUB_WEBHOOK_SECRET", "s"), ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/test")],
            1,
            "DATABASE_URL: ",
        ),
        (
            &[("GITHUB_WEBHOOK_SECRET", "s"), ("DATABASE_URL", "sqlite:///nonexistent-dir/x/webhooks.db")],
            1,
            "DATABASE_URL: ",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, bin) in BINS {
        for (vars, code, says) in cases {
            let (got, stderr) = run(bin, vars);
            if got != Some(code) || !stderr.contains(says) {
                wrong.push(format!("{name} {vars:?}: exit {got:?}, expected {code} and {says:?} in:\n{stderr}"));
            }
            assert!(!stderr.contains("whsec_!!"), "{name}: a secret was printed:\n{stderr}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n---\n"));
}
