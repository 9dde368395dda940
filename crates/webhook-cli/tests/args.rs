//! Bad arguments: exit code 2 and a message on standard error naming the problem, and
//! never the secret.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use webhook_core::Provider;

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = run(&["frobnicate"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("unrecognized subcommand 'frobnicate'"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn an_unknown_provider_lists_the_valid_ones_on_one_line() {
    for cmd in [&["sign"][..], &["send", "--url", "http://127.0.0.1:9/", "-"]] {
        let out = webhook().args(cmd).args(["--provider", "nope", "--secret", "hunter2"]).output().unwrap();
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.starts_with("error: unknown provider \"nope\"; valid providers: github, stripe, "), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for p in Provider::all() {
            assert!(err.contains(p.name()), "{} missing from {err}", p.name());
        }
        assert!(!err.contains("hunter2"));
    }
}

#[test]
fn a_missing_secret_is_a_usage_error() {
    let out = run(&["sign", "--provider", "github"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("--secret <SECRET>") && err.contains("--secret-env <VAR>"), "{err}");

    let out = run(&["sign", "--provider", "github", "--secret", "a", "--secret-env", "B"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));

    let out = webhook().args(["sign", "-p", "github", "--secret-env", "CLI_TEST_UNSET_VAR"]).output().unwrap();
    assert_exit(&out, 2);
    assert_eq!(stderr(&out), "error: --secret-env: environment variable CLI_TEST_UNSET_VAR is not set\n");
}

#[test]
fn a_bad_secret_names_the_problem_not_the_secret() {
    let secret = "whsec_this is not base64!";
    let out = run(&["sign", "-p", "standard-webhooks", "--secret", secret]);
    assert_exit(&out, 2);
    assert_eq!(stderr(&out), "error: bad secret for standard-webhooks: whsec_ secret is not valid base64\n");

    let out = run(&["sign", "-p", "discord", "--secret", "seed:abcd"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.starts_with("error: bad secret for discord: ") && !err.contains("abcd"), "{err}");
}

#[test]
fn bad_ids_timestamps_urls_and_headers_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["sign", "-p", "github", "--secret", "s", "--id", "has space"], "error: bad --id: "),
        (&["sign", "-p", "github", "--secret", "s", "--id", ""], "error: bad --id: "),
        (&["sign", "-p", "github", "--secret", "s", "--event-type", "a\nb"], "error: bad --event-type: "),
        (&["sign", "-p", "github", "--secret", "s", "--timestamp", "99999999999999"], "error: bad --timestamp "),
        (&["sign", "-p", "github", "--secret", "s", "--timestamp", "yesterday"], "error: invalid value 'yesterday'"),
        (&["sign", "-p", "github", "--secret", "s", "--url", "/relative"], "error: bad --url: "),
        (
            &["send", "-p", "github", "--secret", "s", "--url", "ftp://example.com/", "-"],
            "error: bad --url: expected an absolute http:// or https:// URL",
        ),
        (
            &["send", "-p", "github", "--secret", "s", "--url", "http://127.0.0.1:9/", "-H", "nocolon", "-"],
            "error: bad --header",
        ),
        (
            &["send", "-p", "github", "--secret", "s", "--url", "http://127.0.0.1:9/"],
            "error: the following required arguments",
        ),
        (&["events", "--database-url", "sqlite://x.db", "replay", "--dead"], "error: the following required arguments"),
        (
            &["events", "--database-url", "sqlite://x.db", "replay", "3", "--provider", "github", "--dead"],
            "cannot be used with",
        ),
        (&["events", "--database-url", "sqlite::memory:", "list"], "error: bad --database-url: an in-memory"),
        (&["events", "--database-url", "sqlite://x.db", "list", "--status", "lost"], "error: invalid value 'lost'"),
    ];
    for (args, expected) in cases {
        let out = run(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn help_says_how_send_checks_certificates_and_lists_exit_codes() {
    let out = run(&["send", "--help"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("--insecure checks none"), "{}", stdout(&out));
    let out =
        run(&["send", "-p", "github", "--secret", "s", "--url", "https://x/", "--insecure", "--cacert", "c", "-"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
    let out = run(&["--help"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("Exit codes: 0 success; 1 "), "{}", stdout(&out));
}

#[test]
fn providers_lists_every_name() {
    let out = run(&["providers", "--json"]);
    assert_exit(&out, 0);
    let names: Vec<String> =
        json(&out).as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = Provider::all().iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(names, expected);
    let out = run(&["providers"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).lines().any(|l| l.starts_with("discord") && l.contains("seed:")), "{}", stdout(&out));
}
