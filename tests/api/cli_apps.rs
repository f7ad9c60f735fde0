//! `gatehouse app list|show|update|delete|secret add|secret remove`: the admin API's
//! application shape as JSON on stdout, clear errors and non-zero exits on bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn gatehouse(dir: &tempfile::TempDir, args: &[&str]) -> Output {
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
    child.stdin.take().unwrap().flush().unwrap();
    child.wait_with_output().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn apps_are_listed_shown_updated_rotated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    json_of(&gatehouse(&dir, &["migrate"]));
    json_of(&gatehouse(
        &dir,
        &["tenant", "create", "--slug", "contoso", "--name", "Contoso"],
    ));
    let created = json_of(&gatehouse(
        &dir,
        &[
            "app",
            "create",
            "--tenant",
            "contoso",
            "--name",
            "Backend",
            "--grant",
            "client_credentials",
        ],
    ));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let app = |args: &[&str]| {
        let mut all = vec!["app"];
        all.extend_from_slice(args);
        gatehouse(&dir, &all)
    };
    let list = json_of(&app(&["list", "--tenant", "contoso"]));
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["appId"], client_id.as_str());
    // By client id or by object id.
    let shown = json_of(&app(&["show", "--tenant", "contoso", "--app", &client_id]));
    assert_eq!(shown["id"], id.as_str());
    let first_key = shown["passwordCredentials"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated = json_of(&app(&[
        "update",
        "--tenant",
        "contoso",
        "--app",
        &id,
        "--name",
        "Backend v2",
        "--assignment-required",
        "true",
        "--signing-alg",
        "ES256",
    ]));
    assert_eq!(updated["displayName"], "Backend v2");
    assert_eq!(updated["appRoleAssignmentRequired"], true);
    assert_eq!(updated["idTokenSignedResponseAlg"], "ES256");
    let patch = dir.path().join("patch.json");
    std::fs::write(
        &patch,
        json!({"appRoles": [{"id": "7f9a1c3e-1111-4a4a-8b8b-000000000001", "value": "Admin",
            "displayName": "Admin", "allowedMemberTypes": ["Application"], "isEnabled": true}]})
        .to_string(),
    )
    .unwrap();
    let patch = patch.to_str().unwrap();
    let updated = json_of(&app(&[
        "update", "--tenant", "contoso", "--app", &client_id, "--json", patch,
    ]));
    assert_eq!(updated["appRoles"][0]["value"], "Admin");
    // Errors name what is wrong.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"shoeSize": 42}"#).unwrap();
    let message = failure(&app(&[
        "update",
        "--tenant",
        "contoso",
        "--app",
        &id,
        "--json",
        bad.to_str().unwrap(),
    ]));
    assert!(message.contains("shoeSize"), "{message}");
    let message = failure(&app(&["update", "--tenant", "contoso", "--app", &id]));
    assert!(message.contains("nothing to change"), "{message}");
    let message = failure(&app(&[
        "show",
        "--tenant",
        "contoso",
        "--app",
        "no-such-app",
    ]));
    assert!(message.contains("no such application"), "{message}");
    // Rotation: add a second secret, remove the first.
    let added = json_of(&app(&[
        "secret", "add", "--tenant", "contoso", "--app", &id, "--name", "second",
    ]));
    let text = added["secretText"].as_str().unwrap();
    assert!(text.len() >= 43);
    assert_eq!(added["displayName"], "second");
    let removed = json_of(&app(&[
        "secret", "remove", "--tenant", "contoso", "--app", &id, "--key-id", &first_key,
    ]));
    assert_eq!(removed["removed"], true);
    let shown = json_of(&app(&["show", "--tenant", "contoso", "--app", &id]));
    assert_eq!(shown["passwordCredentials"].as_array().unwrap().len(), 1);
    assert!(
        !shown.to_string().contains(text),
        "the secret is shown once"
    );
    let message = failure(&app(&[
        "secret", "remove", "--tenant", "contoso", "--app", &id, "--key-id", &first_key,
    ]));
    assert!(message.contains(&first_key), "{message}");
    let message = failure(&app(&[
        "secret",
        "add",
        "--tenant",
        "contoso",
        "--app",
        &id,
        "--end",
        "2001-01-01T00:00:00Z",
    ]));
    assert!(message.contains("future"), "{message}");
    // Delete.
    let deleted = json_of(&app(&[
        "delete", "--tenant", "contoso", "--app", &client_id,
    ]));
    assert_eq!(deleted["deleted"], true);
    failure(&app(&["show", "--tenant", "contoso", "--app", &id]));
    let list = json_of(&app(&["list", "--tenant", "contoso"]));
    assert_eq!(list["value"], json!([]));
}

#[test]
fn an_app_created_with_keys_gets_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    json_of(&gatehouse(&dir, &["migrate"]));
    json_of(&gatehouse(
        &dir,
        &["tenant", "create", "--slug", "contoso", "--name", "Contoso"],
    ));
    let key = josekit::jwk::Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256)
        .unwrap()
        .to_public_key()
        .unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [Value::Object(key.as_ref().clone())]}).to_string(),
    )
    .unwrap();
    let created = json_of(&gatehouse(
        &dir,
        &[
            "app",
            "create",
            "--tenant",
            "contoso",
            "--name",
            "Keyed",
            "--grant",
            "client_credentials",
            "--jwks-file",
            jwks.to_str().unwrap(),
        ],
    ));
    assert!(created.get("client_secret").is_none(), "{created}");
    let shown = json_of(&gatehouse(
        &dir,
        &[
            "app",
            "show",
            "--tenant",
            "contoso",
            "--app",
            created["id"].as_str().unwrap(),
        ],
    ));
    assert_eq!(shown["jwks"]["keys"][0]["kty"], "EC");
    assert_eq!(shown["passwordCredentials"], json!([]));
}
