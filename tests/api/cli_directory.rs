//! The directory at the command line: `gatehouse user …` and `gatehouse group …` print the
//! admin API's JSON, follow every page of a list, and refuse what the API refuses.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn gatehouse(dir: &tempfile::TempDir, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_REDIS_URL")
        .env("GATEHOUSE_DATA_DIR", dir.path().join("data"))
        .env("GATEHOUSE_KEYS_DIR", dir.path().join("keys"))
        .env("GATEHOUSE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed; returns its JSON.
fn run(dir: &tempfile::TempDir, args: &[&str], stdin: Option<&str>) -> Value {
    let output = gatehouse(dir, args, stdin);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

/// Runs a command that must fail; returns its stderr.
fn refused(dir: &tempfile::TempDir, args: &[&str]) -> String {
    let output = gatehouse(dir, args, None);
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const T: &str = "contoso";

#[test]
fn users_and_groups_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    run(&dir, &["migrate"], None);
    run(
        &dir,
        &[
            "tenant",
            "create",
            "--slug",
            T,
            "--name",
            "Contoso",
            "--domain",
            "contoso.example",
        ],
        None,
    );
    for (email, name) in [
        ("ann@contoso.example", "Ann"),
        ("ben@contoso.example", "Ben"),
    ] {
        run(
            &dir,
            &[
                "user",
                "create",
                "--tenant",
                T,
                "--email",
                email,
                "--name",
                name,
                "--password-stdin",
            ],
            Some("a long enough password\n"),
        );
    }
    let users = run(&dir, &["user", "list", "--tenant", T], None);
    assert_eq!(users["value"].as_array().unwrap().len(), 2, "{users}");
    let ann = run(
        &dir,
        &[
            "user",
            "show",
            "--tenant",
            T,
            "--user",
            "ann@contoso.example",
        ],
        None,
    );
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    let changed = run(
        &dir,
        &[
            "user",
            "update",
            "--tenant",
            T,
            "--user",
            &ann_id,
            "--job-title",
            "Clerk",
            "--usage-location",
            "fr",
        ],
        None,
    );
    assert_eq!(changed["jobTitle"], "Clerk");
    assert_eq!(changed["usageLocation"], "FR");
    let stderr = refused(
        &dir,
        &[
            "user",
            "update",
            "--tenant",
            T,
            "--user",
            &ann_id,
            "--usage-location",
            "France",
        ],
    );
    assert!(stderr.contains("usageLocation"), "{stderr}");
    run(
        &dir,
        &[
            "user",
            "update",
            "--tenant",
            T,
            "--user",
            &ann_id,
            "--password-stdin",
        ],
        Some("another long password\n"),
    );
    let disabled = run(
        &dir,
        &["user", "disable", "--tenant", T, "--user", &ann_id],
        None,
    );
    assert_eq!(disabled["accountEnabled"], false);
    let enabled = run(
        &dir,
        &[
            "user",
            "enable",
            "--tenant",
            T,
            "--user",
            "ann@contoso.example",
        ],
        None,
    );
    assert_eq!(enabled["accountEnabled"], true);
    let revoked = run(
        &dir,
        &["user", "revoke-sessions", "--tenant", T, "--user", &ann_id],
        None,
    );
    assert_eq!(revoked["value"], true);

    // Groups, nesting and owners.
    let team = run(
        &dir,
        &[
            "group",
            "create",
            "--tenant",
            T,
            "--name",
            "Team",
            "--member",
            "ann@contoso.example",
        ],
        None,
    );
    let team_id = team["id"].as_str().unwrap().to_owned();
    assert_eq!(team["securityEnabled"], true);
    let inner = run(
        &dir,
        &[
            "group",
            "create",
            "--tenant",
            T,
            "--name",
            "Inner",
            "--security-enabled",
            "false",
        ],
        None,
    );
    let inner_id = inner["id"].as_str().unwrap().to_owned();
    run(
        &dir,
        &[
            "group", "member", "add", "--tenant", T, "--group", &team_id, "--object", &inner_id,
        ],
        None,
    );
    let stderr = refused(
        &dir,
        &[
            "group",
            "member",
            "add",
            "--tenant",
            T,
            "--group",
            &team_id,
            "--object",
            "ann@contoso.example",
        ],
    );
    assert!(stderr.contains("already exist"), "{stderr}");
    let stderr = refused(
        &dir,
        &[
            "group", "member", "add", "--tenant", T, "--group", &inner_id, "--object", &team_id,
        ],
    );
    assert!(stderr.contains("cycle"), "{stderr}");
    let members = run(
        &dir,
        &["group", "members", "--tenant", T, "--group", &team_id],
        None,
    );
    let types: Vec<&str> = members["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 2, "{members}");
    assert!(types.contains(&"#microsoft.graph.group") && types.contains(&"#microsoft.graph.user"));
    run(
        &dir,
        &[
            "group",
            "owner",
            "add",
            "--tenant",
            T,
            "--group",
            &team_id,
            "--object",
            "ben@contoso.example",
        ],
        None,
    );
    run(
        &dir,
        &[
            "group",
            "owner",
            "remove",
            "--tenant",
            T,
            "--group",
            &team_id,
            "--object",
            "ben@contoso.example",
        ],
        None,
    );
    let renamed = run(
        &dir,
        &[
            "group",
            "update",
            "--tenant",
            T,
            "--group",
            &team_id,
            "--name",
            "Team 2",
            "--description",
            "All of us",
        ],
        None,
    );
    assert_eq!(renamed["displayName"], "Team 2");
    assert_eq!(renamed["description"], "All of us");
    let shown = run(
        &dir,
        &["group", "show", "--tenant", T, "--group", &team_id],
        None,
    );
    assert_eq!(shown["displayName"], "Team 2");
    let groups = run(&dir, &["group", "list", "--tenant", T], None);
    assert_eq!(groups["value"].as_array().unwrap().len(), 2);
    run(
        &dir,
        &[
            "group", "member", "remove", "--tenant", T, "--group", &team_id, "--object", &inner_id,
        ],
        None,
    );
    refused(
        &dir,
        &[
            "group", "member", "remove", "--tenant", T, "--group", &team_id, "--object", &inner_id,
        ],
    );
    run(
        &dir,
        &["group", "delete", "--tenant", T, "--group", &inner_id],
        None,
    );
    refused(
        &dir,
        &["group", "show", "--tenant", T, "--group", &inner_id],
    );
    let deleted = run(
        &dir,
        &[
            "user",
            "delete",
            "--tenant",
            T,
            "--user",
            "ben@contoso.example",
        ],
        None,
    );
    assert_eq!(deleted["deleted"], true);
    let users = run(
        &dir,
        &["user", "list", "--tenant", T, "--type", "Member"],
        None,
    );
    assert_eq!(users["value"].as_array().unwrap().len(), 1);
    refused(&dir, &["user", "list", "--tenant", T, "--type", "Robot"]);
}
