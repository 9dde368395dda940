//! Each library crate's README tells its features as its Cargo.toml defines them: the
//! `default` list word for word, and every feature by name in the README's "Features"
//! section. A feature added, removed or made default without the README fails here.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::Path;

/// `(name, value)` of each line of the manifest's `[features]` table, comments skipped.
fn features(manifest: &str) -> Vec<(String, String)> {
    let table = manifest.split("\n[features]\n").nth(1).expect("a [features] table");
    let table = table.split("\n[").next().unwrap_or(table);
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The README's "## Features" section, up to the next heading of that level.
fn features_section(readme: &str) -> &str {
    let section = readme.split("## Features").nth(1).expect("a ## Features section");
    section.split("\n## ").next().unwrap_or(section)
}

fn check(krate: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("crates").join(krate);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let section = features_section(&readme);
    let mut wrong = Vec::new();
    for (name, value) in features(&manifest) {
        if name == "default" {
            let said = format!("`default = {value}`");
            if !section.contains(&said) {
                wrong.push(format!("{krate}: README's Features section does not say {said}"));
            }
        } else if !section.contains(&format!("`{name}`")) {
            wrong.push(format!("{krate}: README's Features section does not name the feature `{name}`"));
        }
    }
    wrong
}

#[test]
fn readmes_tell_the_features_their_manifests_define() {
    let wrong: Vec<String> = ["webhook-core", "webhook-pipeline"].into_iter().flat_map(check).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_reads_features_and_finds_a_stale_default() {
    let manifest =
        "[package]\nname = \"x\"\n\n[features]\n# all\ndefault = [\"full\"]\nfull = [\"a\"]\n\n[dependencies]\n";
    assert_eq!(
        features(manifest),
        [("default".to_owned(), "[\"full\"]".to_owned()), ("full".to_owned(), "[\"a\"]".to_owned())]
    );
    let stale = "## Features\n\n`default = [\"full\", \"pipeline\"]`: `full`.\n";
    let section = features_section(stale);
    assert!(!section.contains("`default = [\"full\"]`"));
}
