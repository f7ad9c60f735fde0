//! Bulk invitations, as an API and as the `gatehouse invite` CLI: Entra's CSV template and JSON
//! Lines in, one result per row out, row-level validation, idempotent re-runs, mail through the
//! real SMTP listener, and the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::b2b::{APP_ORIGIN, World};

const HEADER: &str = "Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]";

fn template(rows: &[&str]) -> String {
    let mut csv = format!("version:v1.0\n{HEADER}\n");
    for row in rows {
        csv.push_str(row);
        csv.push('\n');
    }
    csv
}

/// Parses result CSV into (row, email, status, reason).
fn results(csv: &str) -> Vec<(String, String, String, String)> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("row,email,status,invitationId,userId,reason")
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.splitn(6, ',').collect();
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields[2].to_owned(),
                fields[5].trim_matches('"').to_owned(),
            )
        })
        .collect()
}

async fn upload(
    world: &World,
    token: &str,
    content_type: &str,
    accept: &str,
    body: String,
) -> (StatusCode, String) {
    let response = world
        .app
        .api()
        .post(world.api_url("invitations/bulk"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_csv_upload_invites_row_by_row_and_a_second_run_changes_nothing() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let csv = template(&[
        &format!("ann@fabrikam.example,{APP_ORIGIN}/welcome,true,See you at the review"),
        &format!("bob@fabrikam.example,{APP_ORIGIN}/,false,"),
        &format!("not an address,{APP_ORIGIN}/,true,"),
        "cat@fabrikam.example,https://evil.example/,true,",
        &format!("dan@fabrikam.example,{APP_ORIGIN}/,true,\"Hello, \"\"Dan\"\"\""),
        "",
        &format!("{},{APP_ORIGIN}/,true,", crate::b2b::ADMIN),
    ]);
    let (status, body) = upload(&world, &token, "text/csv", "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = results(&body);
    let statuses: Vec<(&str, &str)> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
    assert_eq!(
        statuses,
        vec![
            ("ann@fabrikam.example", "Invited"),
            ("bob@fabrikam.example", "Invited"),
            ("not an address", "Failed"),
            ("cat@fabrikam.example", "Failed"),
            ("dan@fabrikam.example", "Invited"),
            (crate::b2b::ADMIN, "AlreadyExists"),
        ]
    );
    assert!(rows[3].3.contains("inviteRedirectUrl"), "{}", rows[3].3);
    // Mail went to the rows that asked for it, with their messages.
    let ann = world.smtp.wait_for("ann@fabrikam.example", 1).await;
    assert!(ann.text().contains("See you at the review"));
    let dan = world.smtp.wait_for("dan@fabrikam.example", 1).await;
    assert!(dan.text().contains("Hello, \"Dan\""));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(world.smtp.mails_to("bob@fabrikam.example").is_empty());

    // The same file again: nothing new, nothing mailed.
    let (status, again) = upload(&world, &token, "text/csv", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK);
    let again: Vec<String> = results(&again).into_iter().map(|r| r.2).collect();
    assert_eq!(
        again,
        [
            "AlreadyInvited",
            "AlreadyInvited",
            "Failed",
            "Failed",
            "AlreadyInvited",
            "AlreadyExists"
        ]
    );
    let (_, guests) = world
        .call(
            Method::GET,
            "users?$filter=userType%20eq%20'Guest'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(guests["value"].as_array().unwrap().len(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(world.smtp.mails_to("ann@fabrikam.example").len(), 1);

    let (_, log) = world
        .call(Method::GET, "auditLogs", Some(&token), None)
        .await;
    let processed: Vec<&Value> = log["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["activityDisplayName"] == "Batch invites processed")
        .collect();
    assert_eq!(processed.len(), 2);
    assert!(
        processed.iter().any(
            |e| e["additionalDetails"]["invited"] == 3 && e["additionalDetails"]["failed"] == 2
        )
    );
    assert!(
        log["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["activityDisplayName"] == "Batch invites uploaded"
                && e["category"] == "Other")
    );
}

#[tokio::test]
async fn json_lines_in_and_out_and_bad_uploads_are_refused() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let lines = format!(
        "{{\"invitedUserEmailAddress\":\"eve@fabrikam.example\",\"inviteRedirectUrl\":\"{APP_ORIGIN}/\",\"sendInvitationMessage\":false}}\n\
         not json\n\
         {{\"invitedUserEmailAddress\":\"fay@fabrikam.example\",\"inviteRedirectUrl\":\"{APP_ORIGIN}/\"}}\n"
    );
    let (status, body) = upload(
        &world,
        &token,
        "application/x-ndjson",
        "application/x-ndjson",
        lines,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["status"], "Invited");
    assert!(rows[0]["invitationId"].is_string() && rows[0]["userId"].is_string());
    assert_eq!(rows[1]["status"], "Failed");
    assert_eq!(rows[2]["status"], "Invited");
    world.smtp.wait_for("fay@fabrikam.example", 1).await;

    let (status, _) = upload(&world, &token, "application/json", "text/csv", "[]".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let plain = world.app.service_app("contoso", "RS256").await;
    let plain = world.app_token(&plain).await;
    let (status, _) = upload(&world, &plain, "text/csv", "text/csv", template(&[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = upload(&world, "nope", "text/csv", "text/csv", template(&[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_cli_invites_from_the_template_with_progress_and_is_idempotent() {
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invite.csv");
    let rows: Vec<String> = (0..30)
        .map(|i| format!("guest{i}@fabrikam.example,{APP_ORIGIN}/,true,"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    std::fs::write(&file, template(&rows)).unwrap();
    // tokio's Command: the SMTP listener runs on this test's runtime and must keep serving
    // while the CLI delivers to it.
    let run = |json: bool| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .args(["invite", "--tenant", "contoso", "--csv"])
            .arg(&file)
            .envs(world.app.backing().env())
            .env("GATEHOUSE_MAIL__SMTP_URL", &world.smtp.url)
            .current_dir(dir.path());
        if json {
            command.arg("--json");
        }
        async move { command.output().await.unwrap() }
    };
    let first = run(false).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8(first.stdout).unwrap();
    let statuses: Vec<String> = results(&out).into_iter().map(|r| r.2).collect();
    assert_eq!(statuses.len(), 30);
    assert!(statuses.iter().all(|s| s == "Invited"), "{statuses:?}");
    assert!(String::from_utf8_lossy(&first.stderr).contains("done: 30 rows, 30 invited"));
    // The CLI delivers what it queued before it exits.
    for i in [0, 29] {
        world
            .smtp
            .wait_for(&format!("guest{i}@fabrikam.example"), 1)
            .await;
    }
    let second = run(true).await;
    assert!(second.status.success());
    let lines: Vec<Value> = String::from_utf8(second.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert!(lines.iter().all(|l| l["status"] == "AlreadyInvited"));
    assert_eq!(world.smtp.mails().len(), 30, "no mail the second time");
}

#[tokio::test]
async fn uploads_span_chunks_and_a_repeated_address_is_invited_once() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let mut rows: Vec<String> = (0..250)
        .map(|i| format!("p{i}@fabrikam.example,{APP_ORIGIN}/,false,"))
        .collect();
    // The same address again, in the same chunk and in a later one (different case).
    rows.insert(3, format!("p1@fabrikam.example,{APP_ORIGIN}/,false,"));
    rows.push(format!("P2@Fabrikam.example,{APP_ORIGIN}/,false,"));
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let (status, body) = upload(&world, &token, "text/csv", "text/csv", template(&rows)).await;
    assert_eq!(status, StatusCode::OK);
    let results = results(&body);
    assert_eq!(results.len(), 252);
    let numbers: Vec<String> = results.iter().map(|r| r.0.clone()).collect();
    let expected: Vec<String> = (1..=252).map(|n| n.to_string()).collect();
    assert_eq!(numbers, expected, "one result per row, in order");
    let invited = results.iter().filter(|r| r.2 == "Invited").count();
    assert_eq!(invited, 250);
    assert_eq!(results[3].2, "AlreadyInvited", "{:?}", results[3]);
    assert_eq!(results[251].2, "AlreadyInvited", "{:?}", results[251]);
    let (_, guests) = world
        .call(
            Method::GET,
            "users?$filter=userType%20eq%20'Guest'&$top=999",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(guests["value"].as_array().unwrap().len(), 250);
}

#[tokio::test]
async fn the_cli_exits_non_zero_when_rows_fail_and_refuses_a_file_that_is_not_the_template() {
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, content: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .args(["invite", "--tenant", "contoso", "--csv"])
            .arg(&file)
            .envs(world.app.backing().env())
            .env_remove("GATEHOUSE_LOG")
            .env_remove("RUST_LOG")
            .env("GATEHOUSE_MAIL__SMTP_URL", &world.smtp.url)
            .current_dir(dir.path());
        async move { command.output().await.unwrap() }
    };
    // One good row, one bad address: every row is answered, the status says some failed.
    let mixed = run(
        "mixed.csv",
        template(&[
            &format!("ok@fabrikam.example,{APP_ORIGIN}/,false,"),
            &format!("not an address,{APP_ORIGIN}/,false,"),
        ]),
    )
    .await;
    assert_eq!(mixed.status.code(), Some(3), "some rows failed");
    let out = String::from_utf8(mixed.stdout).unwrap();
    let statuses: Vec<String> = results(&out).into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, vec!["Invited", "Failed"]);
    let stderr = String::from_utf8(mixed.stderr).unwrap();
    assert!(stderr.contains("1 of the rows failed"), "{stderr}");
    assert!(
        stderr.lines().count() <= 3,
        "stderr is not a terminal: a summary, no line per row: {stderr}"
    );
    // Headers that are not the template: refused as a whole, nothing invited.
    let wrong = run(
        "wrong.csv",
        "email,redirect\nnew@fabrikam.example,https://app.contoso.example/\n".to_owned(),
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8(wrong.stderr).unwrap();
    assert!(
        stderr.contains("inviteeEmail") && stderr.contains("version:v1.0"),
        "the message shows the template: {stderr}"
    );
    assert!(String::from_utf8(wrong.stdout).unwrap().is_empty());
    let token = world.backend_token().await;
    let (status, body) = upload(
        &world,
        &token,
        "text/csv",
        "text/csv",
        "email,redirect\nnew@fabrikam.example,https://app.contoso.example/\n".to_owned(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("inviteeEmail"), "{body}");
    let (_, guests) = world
        .call(
            Method::GET,
            "users?$filter=userType%20eq%20'Guest'",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        guests["value"].as_array().unwrap().len(),
        1,
        "only ok@ was invited"
    );
}
