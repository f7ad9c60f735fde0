//! The command line: JSON on stdout, clear errors and non-zero exits on bad input, and
//! configuration errors that name the setting.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn gatehouse(
    dir: &tempfile::TempDir,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(args)
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_REDIS_URL")
        .env("GATEHOUSE_DATA_DIR", dir.path().join("data"))
        .env("GATEHOUSE_KEYS_DIR", dir.path().join("keys"))
        .env("GATEHOUSE_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
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

/// A fresh working directory whose database exists (as after the server's first start).
fn prepared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let migrated = json(&gatehouse(&dir, &["migrate"], None, &[]));
    assert_eq!(migrated["migrated"], true);
    dir
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn administration_commands_refuse_to_create_a_database_they_cannot_find() {
    let dir = tempfile::tempdir().unwrap();
    let output = gatehouse(
        &dir,
        &["tenant", "create", "--slug", "contoso", "--name", "Contoso"],
        None,
        &[],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("there is no database at") && message.contains("gatehouse migrate"),
        "{message}"
    );
    assert!(
        !dir.path().join("data/gatehouse.db").exists(),
        "no empty database is left behind"
    );
}

#[test]
fn tenant_user_and_app_creation_print_json() {
    let dir = prepared_dir();
    let tenant = json(&gatehouse(
        &dir,
        &[
            "tenant",
            "create",
            "--slug",
            "contoso",
            "--name",
            "Contoso",
            "--domain",
            "Contoso.Example",
        ],
        None,
        &[],
    ));
    assert_eq!(tenant["slug"], "contoso");
    assert_eq!(tenant["issuer"], "http://127.0.0.1:8080/contoso");
    assert_eq!(tenant["domains"], serde_json::json!(["contoso.example"]));
    assert!(tenant["id"].as_str().unwrap().len() == 36);
    assert!(
        dir.path().join("data/gatehouse.db").exists(),
        "SQLite under the data directory"
    );

    let user = json(&gatehouse(
        &dir,
        &[
            "user",
            "create",
            "--tenant",
            "contoso",
            "--email",
            "alice@contoso.example",
            "--name",
            "Alice",
            "--password-stdin",
            "--role",
            "Global Administrator",
        ],
        Some("correct horse battery\n"),
        &[],
    ));
    assert_eq!(user["has_password"], true);
    assert_eq!(user["roles"], serde_json::json!(["Global Administrator"]));

    let app = json(&gatehouse(
        &dir,
        &[
            "app",
            "create",
            "--tenant",
            "contoso",
            "--name",
            "Web",
            "--redirect-uri",
            "https://rp.example/cb",
            "--signing-alg",
            "ES256",
        ],
        None,
        &[],
    ));
    assert_eq!(
        app["client_secret"].as_str().unwrap().len(),
        43,
        "256-bit secret"
    );
    assert_eq!(app["signing_alg"], "ES256");
    let public = json(&gatehouse(
        &dir,
        &[
            "app",
            "create",
            "--tenant",
            "contoso",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
        ],
        None,
        &[],
    ));
    assert!(public.get("client_secret").is_none());
}

#[test]
fn bad_arguments_give_a_clear_message_and_a_non_zero_exit() {
    let dir = prepared_dir();
    json(&gatehouse(
        &dir,
        &["tenant", "create", "--slug", "contoso", "--name", "Contoso"],
        None,
        &[],
    ));
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["tenant", "create", "--slug", "Bad Slug", "--name", "x"],
            None,
            "tenant slug",
        ),
        (
            vec!["tenant", "create", "--slug", "contoso", "--name", "again"],
            None,
            "already taken",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "nope",
                "--email",
                "a@b.example",
                "--name",
                "A",
            ],
            None,
            "does not exist",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "contoso",
                "--email",
                "not-an-email",
                "--name",
                "A",
            ],
            None,
            "e-mail",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "contoso",
                "--email",
                "a@contoso.example",
                "--name",
                "A",
                "--password-stdin",
            ],
            Some("short\n"),
            "at least 8",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "contoso",
                "--email",
                "a@contoso.example",
                "--name",
                "A",
                "--role",
                "root",
            ],
            None,
            "unknown role",
        ),
        (
            vec![
                "app",
                "create",
                "--tenant",
                "contoso",
                "--name",
                "W",
                "--redirect-uri",
                "http://rp.example/cb",
            ],
            None,
            "not loopback",
        ),
        (
            vec![
                "app",
                "create",
                "--tenant",
                "contoso",
                "--name",
                "W",
                "--redirect-uri",
                "https://rp.example/cb#x",
            ],
            None,
            "fragment",
        ),
        (
            vec![
                "app",
                "create",
                "--tenant",
                "contoso",
                "--name",
                "W",
                "--public",
                "--grant",
                "client_credentials",
            ],
            None,
            "public app",
        ),
        (
            vec![
                "app", "create", "--tenant", "contoso", "--name", "W", "--grant", "password",
            ],
            None,
            "unsupported grant",
        ),
        (
            vec![
                "app",
                "create",
                "--tenant",
                "contoso",
                "--name",
                "W",
                "--grant",
                "client_credentials",
                "--signing-alg",
                "HS256",
            ],
            None,
            "RS256 or ES256",
        ),
        (
            vec!["app", "create", "--tenant", "contoso", "--name", "W"],
            None,
            "redirect-uri",
        ),
    ];
    for (args, stdin, expected) in cases {
        let output = gatehouse(&dir, &args, stdin, &[]);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "{args:?} printed on stdout");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = gatehouse(&dir, &["tenant", "explode"], None, &[]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn invalid_configuration_stops_the_start_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("GATEHOUSE_LISTEN", "not-an-address"),
        ("GATEHOUSE_PUBLIC_URL", "ftp://idp.example"),
        ("GATEHOUSE_DATABASE_URL", "mysql://x"),
        ("GATEHOUSE_REDIS_URL", "memcached://x"),
        ("GATEHOUSE_MASTER_KEY", "too-short"),
        ("GATEHOUSE_TOKENS__CODE_TTL", "3600"),
        ("GATEHOUSE_TOKENS__ACCESS_TOKEN_TTL", "soon"),
    ] {
        let output = gatehouse(&dir, &["serve"], None, &[(name, value)]);
        assert!(!output.status.success(), "{name}={value}");
        let message = stderr(&output);
        let named = message.contains(name)
            || message.contains(
                &name
                    .trim_start_matches("GATEHOUSE_")
                    .to_ascii_lowercase()
                    .replace("__", "."),
            );
        assert!(named, "{name}: {message}");
    }
}

#[test]
fn policies_are_created_listed_and_deleted_with_clear_errors() {
    let dir = prepared_dir();
    let run = |args: &[&str]| gatehouse(&dir, args, None, &[]);
    json(&run(&[
        "tenant", "create", "--slug", "acme", "--name", "Acme",
    ]));
    json(&gatehouse(
        &dir,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "bo@acme.example",
            "--name",
            "Bo",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
        &[],
    ));
    let created = json(&run(&[
        "policy",
        "create",
        "--tenant",
        "acme",
        "--name",
        "MFA for Bo",
        "--user",
        "bo@acme.example",
        "--grant",
        "mfa",
        "--state",
        "report-only",
    ]));
    assert_eq!(created["state"], "enabledForReportingButNotEnforced");
    assert_eq!(
        created["conditions"]["applications"]["includeApplications"][0],
        "All"
    );
    let bo_id = created["conditions"]["users"]["includeUsers"][0]
        .as_str()
        .unwrap();
    assert!(!bo_id.contains('@'), "addresses are stored as object ids");
    let listed = json(&run(&["policy", "list", "--tenant", "acme"]));
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    for (args, message) in [
        (
            vec!["--grant", "compliantDevice"],
            "--grant must be mfa or block",
        ),
        (vec!["--grant", "mfa", "--state", "maybe"], "--state"),
        (
            vec!["--grant", "mfa", "--user", "nobody@acme.example"],
            "no user nobody@acme.example",
        ),
        (
            vec!["--grant", "mfa", "--user", "All", "--app", "no-such-app"],
            "no application",
        ),
        (vec!["--grant", "mfa"], "includeUsers or includeGroups"),
    ] {
        let mut full = vec!["policy", "create", "--tenant", "acme", "--name", "x"];
        full.extend(args);
        let output = run(&full);
        assert!(!output.status.success(), "{full:?}");
        assert!(
            stderr(&output).contains(message),
            "{full:?}: {}",
            stderr(&output)
        );
    }
    let id = created["id"].as_str().unwrap();
    json(&run(&["policy", "delete", "--tenant", "acme", "--id", id]));
    let output = run(&["policy", "delete", "--tenant", "acme", "--id", id]);
    assert!(!output.status.success() && stderr(&output).contains("no such policy"));
}

#[test]
fn partner_registration_checks_domains_and_the_partners_discovery() {
    let dir = prepared_dir();
    let run = |args: &[&str]| gatehouse(&dir, args, None, &[]);
    json(&run(&[
        "tenant", "create", "--slug", "acme", "--name", "Acme",
    ]));
    let base = [
        "partner",
        "create",
        "--tenant",
        "acme",
        "--name",
        "Globex",
        "--issuer",
        "http://127.0.0.1:9/globex",
        "--client-id",
        "acme",
    ];
    for (extra, message) in [
        (
            vec!["--domain", "gmail.com", "--attest-domains"],
            "consumer mail domain",
        ),
        (vec!["--domain", "globex.example"], "not proven"),
        (vec![], "at least one domain"),
        (
            vec!["--domain", "globex.example", "--attest-domains"],
            "not a public address",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let output = run(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // Allowed for development, the loopback issuer is tried, and does not answer.
    let mut args = base.to_vec();
    args.extend(["--domain", "globex.example", "--attest-domains"]);
    let output = gatehouse(
        &dir,
        &args,
        None,
        &[("GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS", "true")],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot be reached"),
        "{}",
        stderr(&output)
    );
    let listed = json(&run(&["partner", "list", "--tenant", "acme"]));
    assert_eq!(
        listed["value"].as_array().unwrap().len(),
        0,
        "nothing half-registered"
    );
}

#[test]
fn saml_partners_register_from_their_metadata_file_or_url() {
    let dir = prepared_dir();
    let run = |args: &[&str]| gatehouse(&dir, args, None, &[]);
    json(&run(&[
        "tenant", "create", "--slug", "acme", "--name", "Acme",
    ]));
    let key = openssl::rsa::Rsa::generate(2048).unwrap();
    let cert =
        gatehouse::keys::certificate::self_signed(&key.private_key_to_der().unwrap(), "idp", 0)
            .unwrap();
    let metadata = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.fabrikam.example/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.fabrikam.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cert)
    );
    let file = dir.path().join("fabrikam.xml");
    std::fs::write(&file, &metadata).unwrap();
    let path = file.to_str().unwrap();
    let base = [
        "partner", "create", "--tenant", "acme", "--name", "Fabrikam",
    ];
    for (extra, message) in [
        (
            vec!["--saml-metadata-file", path, "--client-id", "x"],
            "cannot be used with",
        ),
        (
            vec![
                "--saml-metadata-url",
                "http://127.0.0.1:9/metadata",
                "--domain",
                "fabrikam.example",
            ],
            "not a public address",
        ),
        (
            vec![
                "--saml-metadata-file",
                path,
                "--issuer",
                "https://idp.other.example",
                "--domain",
                "fabrikam.example",
            ],
            "entityID",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let output = run(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let mut args = base.to_vec();
    args.extend(["--saml-metadata-file", path, "--domain", "fabrikam.example"]);
    let created = json(&run(&args));
    assert_eq!(created["issuer"], "https://idp.fabrikam.example/saml");
    assert_eq!(created["domains"][0]["proof"], "idpHostInDomain");
    let listed = json(&run(&["partner", "list", "--tenant", "acme"]));
    assert_eq!(
        listed["value"][0]["@odata.type"],
        "#microsoft.graph.samlOrWsFedExternalDomainFederation"
    );

    // partner update: OIDC-only fields are refused for a SAML partner; the rest changes.
    let id = created["id"].as_str().unwrap();
    let refused = gatehouse(
        &dir,
        &[
            "partner",
            "update",
            "--tenant",
            "acme",
            "--id",
            id,
            "--client-secret-stdin",
        ],
        Some("a secret\n"),
        &[],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("OpenID Connect partners"),
        "{}",
        stderr(&refused)
    );
    let unproven = run(&[
        "partner",
        "update",
        "--tenant",
        "acme",
        "--id",
        id,
        "--domain",
        "fabrikam.example",
        "--domain",
        "contoso-partners.example",
    ]);
    assert!(!unproven.status.success());
    assert!(
        stderr(&unproven).contains("not proven"),
        "{}",
        stderr(&unproven)
    );
    let updated = json(&run(&[
        "partner",
        "update",
        "--tenant",
        "acme",
        "--id",
        id,
        "--name",
        "Fabrikam Group",
        "--trust-mfa",
        "true",
        "--domain",
        "fabrikam.example",
        "--domain",
        "contoso-partners.example",
        "--attest-domains",
    ]));
    assert_eq!(updated["displayName"], "Fabrikam Group");
    assert_eq!(updated["trustMfa"], true);
    assert_eq!(
        updated["domains"],
        serde_json::json!([
            {"id": "fabrikam.example", "proof": "idpHostInDomain"},
            {"id": "contoso-partners.example", "proof": "adminAttestation"}
        ]),
        "a kept domain keeps its proof"
    );
    let missing = run(&[
        "partner", "update", "--tenant", "acme", "--id", "nope", "--name", "X",
    ]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no such identity provider"));
}

#[test]
fn saml_apps_take_their_nameid_format_from_the_metadata_unless_told() {
    let dir = prepared_dir();
    let run = |args: &[&str]| gatehouse(&dir, args, None, &[]);
    json(&run(&[
        "tenant", "create", "--slug", "acme", "--name", "Acme",
    ]));
    let metadata = |entity: &str, formats: &[&str]| {
        let listed: String = formats
            .iter()
            .map(|f| format!("<md:NameIDFormat>{f}</md:NameIDFormat>"))
            .collect();
        let host = entity.trim_start_matches("https://").replace('/', "_");
        let path = dir.path().join(format!("{host}.xml"));
        std::fs::write(
            &path,
            format!(
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{listed}<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let email = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
    let create = |name: &str, file: &str, extra: &[&str]| {
        let mut args = vec![
            "app",
            "create",
            "--tenant",
            "acme",
            "--name",
            name,
            "--saml-metadata",
            file,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let only_email = metadata("https://one.example/sp", &[email]);
    let created = json(&create("One", &only_email, &[]));
    assert_eq!(
        created["saml"]["nameid_format"], "emailAddress",
        "{created}"
    );
    let none = metadata("https://none.example/sp", &[]);
    let created = json(&create("None", &none, &[]));
    assert_eq!(created["saml"]["nameid_format"], "persistent");
    let x509 = metadata(
        "https://x509.example/sp",
        &["urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"],
    );
    let refused = create("X509", &x509, &[]);
    assert!(
        !refused.status.success() && stderr(&refused).contains("--saml-nameid-format"),
        "{}",
        stderr(&refused)
    );
    let chosen = json(&create(
        "X509",
        &x509,
        &["--saml-nameid-format", "transient"],
    ));
    assert_eq!(chosen["saml"]["nameid_format"], "transient");
}

#[test]
fn assignments_are_added_listed_and_removed_as_graph_shaped_json() {
    let dir = prepared_dir();
    let run = |args: &[&str]| gatehouse(&dir, args, None, &[]);
    json(&run(&[
        "tenant", "create", "--slug", "contoso", "--name", "Contoso",
    ]));
    let password = Some("correct horse battery\n");
    json(&gatehouse(
        &dir,
        &[
            "user",
            "create",
            "--tenant",
            "contoso",
            "--email",
            "ann@contoso.example",
            "--name",
            "Ann",
            "--password-stdin",
        ],
        password,
        &[],
    ));
    let app = json(&run(&[
        "app",
        "create",
        "--tenant",
        "contoso",
        "--name",
        "Web",
        "--redirect-uri",
        "https://rp.example/cb",
    ]));
    let client_id = app["client_id"].as_str().unwrap();
    let added = json(&run(&[
        "assignment",
        "add",
        "--tenant",
        "contoso",
        "--app",
        client_id,
        "--user",
        "ann@contoso.example",
    ]));
    assert_eq!(added["appRoleId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(added["principalType"], "User");
    assert_eq!(added["resourceDisplayName"], "Web");
    // The older `app assign` keeps working and finds the same assignment.
    let again = json(&run(&[
        "app",
        "assign",
        "--tenant",
        "contoso",
        "--app",
        client_id,
        "--user",
        "ann@contoso.example",
    ]));
    assert_eq!(again["principalId"], added["principalId"]);
    for selector in [["--user", "ann@contoso.example"], ["--app", client_id]] {
        let mut args = vec!["assignment", "list", "--tenant", "contoso"];
        args.extend(selector);
        let listed = json(&run(&args));
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed["value"][0]["id"], added["id"]);
    }
    let refused = run(&[
        "assignment",
        "add",
        "--tenant",
        "contoso",
        "--app",
        client_id,
        "--user",
        "ann@contoso.example",
        "--role",
        "Approver",
    ]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("defines no role"),
        "{}",
        stderr(&refused)
    );
    let removed = json(&run(&[
        "assignment",
        "remove",
        "--tenant",
        "contoso",
        "--app",
        client_id,
        "--user",
        "ann@contoso.example",
    ]));
    assert_eq!(removed["removed"][0]["id"], added["id"]);
    let gone = run(&[
        "assignment",
        "remove",
        "--tenant",
        "contoso",
        "--app",
        client_id,
        "--user",
        "ann@contoso.example",
    ]);
    assert!(!gone.status.success());
    let listed = json(&run(&[
        "assignment",
        "list",
        "--tenant",
        "contoso",
        "--app",
        client_id,
    ]));
    assert_eq!(listed["value"], serde_json::json!([]));
}
