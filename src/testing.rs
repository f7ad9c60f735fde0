//! Test support shared by the unit tests of several tiers (compiled for tests only, tier 0:
//! it names no other module of the crate).

/// Runs the ignored unit test at `path` (its full path, e.g. `passwords::tests::child_x`)
/// alone in a fresh process of this test binary, for a test that needs a process of its own
/// (the first to touch a C library, or one that reads its own resident set). Fails unless
/// the child ran exactly that test and it passed; the child's output is in the message.
pub fn run_ignored_in_own_process(path: &str) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            path,
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{path}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
