//! Compile-fail tests for `#[tether::interface]`, checked by key phrases rather than whole
//! compiler output (which changes between compiler versions).
//!
//! Each case in `tests/ui/fail/` lists the phrases its errors must contain, one per
//! `// expect: ` line. The cases are copied to a scratch directory, compiled by trybuild (which
//! checks that they fail) with `TRYBUILD=overwrite` so it writes what the compiler said, and
//! the phrases are looked up in that.
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::fs;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fail");
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    cases
}

fn expected_phrases(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("// expect: "))
        .collect()
}

#[test]
fn interface_misuse_fails_to_compile_with_clear_messages() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typed-ui");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let cases = cases();
    assert!(!cases.is_empty());
    for case in &cases {
        fs::copy(case, scratch.join(case.file_name().unwrap())).unwrap();
    }

    // SAFETY of the environment change: this test binary runs this one test only.
    std::env::set_var("TRYBUILD", "overwrite");
    let t = trybuild::TestCases::new();
    t.compile_fail(scratch.join("*.rs"));
    drop(t); // Runs the cases; panics if one compiles.

    let mut failures = Vec::new();
    for case in &cases {
        let source = fs::read_to_string(case).unwrap();
        let phrases = expected_phrases(&source);
        assert!(!phrases.is_empty(), "{} lists no phrases", case.display());
        let stderr_path = scratch
            .join(case.file_name().unwrap())
            .with_extension("stderr");
        let stderr = fs::read_to_string(&stderr_path).unwrap();
        for phrase in phrases {
            if !stderr.contains(phrase) {
                failures.push(format!(
                    "{}: missing `{phrase}` in:\n{stderr}",
                    case.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
