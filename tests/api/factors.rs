//! Second-factor and policy fixtures shared by the conditional-access, SAML and federation
//! tests: an authenticator with a known secret, the TOTP code of a secret, the secret shown on
//! an enrolment page, and a policy created through the same code the admin API uses.

use gatehouse::domain::tenant::Tenant;
use gatehouse::domain::unix_now;
use gatehouse::services::AppState;
use gatehouse::services::signin::totp;
use gatehouse::store::{Party, TotpMethod};
use serde_json::Value;

use crate::helpers::query_param;

/// Gives a user an authenticator with a known secret and ten recovery codes (shown once).
pub async fn authenticator(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> (Vec<u8>, Vec<String>) {
    let secret = totp::new_secret();
    let codes = totp::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
    state
        .store
        .add_totp_method(
            &TotpMethod {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant_id.to_owned(),
                user_id: user_id.to_owned(),
                display_name: "Authenticator app".into(),
                sealed_secret: state.master.seal(&secret).unwrap(),
                last_step: 0,
                created_at: unix_now(),
                last_used_at: None,
            },
            Some(&hashes),
        )
        .await
        .unwrap();
    (secret, codes)
}

/// The TOTP code of `secret` for now + `steps` × 30 s.
pub fn code(secret: &[u8], steps: i64) -> String {
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        None,
        "test".into(),
    )
    .unwrap()
    .generate((unix_now() + steps * 30) as u64)
}

/// The otpauth URI an enrolment page offers (HTML-unescaped).
pub fn enrolment_uri(page: &str) -> String {
    let at = page.find("data-otpauth=\"").expect("an otpauth URI") + "data-otpauth=\"".len();
    page[at..at + page[at..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
}

/// The secret of an otpauth URI.
pub fn secret_of(uri: &str) -> Vec<u8> {
    let key = query_param(&uri.replace("otpauth://totp/", "https://x/"), "secret").unwrap();
    totp_rs::Secret::Encoded(key).to_bytes().unwrap()
}

/// The secret an enrolment page offers.
pub fn enrolment_secret(page: &str) -> Vec<u8> {
    secret_of(&enrolment_uri(page))
}

/// Creates a conditional-access policy of `tenant` from Graph JSON (`conditions`,
/// `grantControls`), enabled.
pub async fn policy(state: &AppState, tenant: &Tenant, conditions: Value, grant: Value) {
    gatehouse::services::admin::policies::create_policy(
        state.store.as_ref(),
        tenant,
        gatehouse::services::admin::policies::PolicyInput {
            display_name: "Test policy".into(),
            state: gatehouse::policy::PolicyState::Enabled,
            conditions: serde_json::from_value(conditions).unwrap(),
            grant: serde_json::from_value(grant).unwrap(),
        },
        Party {
            id: "test".into(),
            kind: "system".into(),
            display: "test".into(),
        },
    )
    .await
    .unwrap();
}
