//! Delivery of back-channel logout notifications (OIDC Back-Channel Logout 1.0 §2.5–2.8):
//! a logout token, signed at each attempt with the tenant key ring in the app's signing
//! algorithm, POSTed as `logout_token=…` to the app's `backchannel_uri` through the guarded
//! upstream client. 200 or 204 is success; anything else, or no answer in time, is retried
//! with backoff from the durable outbox (claimed with a lease, so any node delivers and a
//! node that dies mid-send loses nothing), and given up after [`GIVE_UP_AFTER`] with a
//! warning that never carries the token.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};

use crate::domain::unix_now;
use crate::services::{AppState, Services};
use crate::store::LogoutNotice;

/// The `events` member that makes a JWT a logout token (§2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid.
const TOKEN_TTL: i64 = 120;
/// How long a claimed notification is left to its node before another may take it.
const LEASE: i64 = 30;
/// Notifications claimed per round.
const BATCH: i64 = 32;
/// Notifications sent at once.
const CONCURRENCY: usize = 8;
/// The longest wait between two attempts, seconds.
const MAX_BACKOFF: i64 = 600;
/// After this long a notification is given up (the app is told no more).
pub const GIVE_UP_AFTER: i64 = 24 * 3600;
/// How often the outbox is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_secs(2);

/// The node's handle on the logout outbox: wakes its worker when something was queued.
#[derive(Debug, Default)]
pub struct Outbox {
    wake: tokio::sync::Notify,
}

impl Outbox {
    /// Tells the worker something was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The seconds to wait after the `attempts`-th failed attempt: 1, 2, 4, … up to
/// [`MAX_BACKOFF`].
pub fn backoff(attempts: i64) -> i64 {
    (1_i64 << (attempts - 1).clamp(0, 16)).min(MAX_BACKOFF)
}

/// The claims of the logout token of `notice` (§2.4): no `nonce`, ever.
pub fn logout_claims(notice: &LogoutNotice, now: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(notice.issuer));
    claims.insert("aud".into(), json!(notice.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + TOKEN_TTL));
    claims.insert("jti".into(), json!(crate::secrets::random_token(16)));
    claims.insert("sub".into(), json!(notice.sub));
    claims.insert("sid".into(), json!(notice.sid));
    claims.insert("events".into(), json!({ BACKCHANNEL_EVENT: {} }));
    claims
}

/// What became of one attempt.
enum Attempt {
    Delivered,
    Failed(String),
    /// Nothing to deliver any more (the app is gone).
    Moot(String),
}

/// Signs and POSTs one notification.
async fn attempt(services: &Services, notice: &LogoutNotice) -> Attempt {
    let app = match services.directory.app(&notice.client_id).await {
        Ok(Some(app)) if app.tenant_id == notice.tenant_id => app,
        Ok(_) => return Attempt::Moot("the application no longer exists".to_owned()),
        Err(e) => return Attempt::Failed(format!("directory: {e}")),
    };
    let now = unix_now();
    let token = match services.tokens.sign(
        app.signing_alg,
        "logout+jwt",
        logout_claims(notice, now),
        now,
    ) {
        Ok(token) => token,
        Err(e) => return Attempt::Failed(format!("signing: {e}")),
    };
    match services
        .federation
        .post_form(&notice.uri, &[("logout_token", &token)])
        .await
    {
        Ok(200 | 204) => Attempt::Delivered,
        Ok(status) => Attempt::Failed(format!("HTTP {status}")),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

/// Records what became of one claimed notification.
async fn settle(services: &Services, notice: LogoutNotice) -> anyhow::Result<bool> {
    let store = &services.store;
    let now = unix_now();
    match attempt(services, &notice).await {
        Attempt::Delivered => {
            metrics::counter!(crate::monitoring::LOGOUT_SENT).increment(1);
            tracing::info!(notice = %notice.id, client_id = %notice.client_id, "back-channel logout delivered");
            store.logout_done(&notice.id, now, None).await?;
            Ok(true)
        }
        Attempt::Moot(why) => {
            store.logout_done(&notice.id, now, Some(&why)).await?;
            Ok(false)
        }
        Attempt::Failed(why) if now - notice.created_at >= GIVE_UP_AFTER => {
            metrics::counter!(crate::monitoring::LOGOUT_FAILURES, "outcome" => "given_up")
                .increment(1);
            tracing::warn!(
                notice = %notice.id, client_id = %notice.client_id, uri = %notice.uri,
                attempts = notice.attempts, error = %why,
                "back-channel logout given up"
            );
            store.logout_done(&notice.id, now, Some(&why)).await?;
            Ok(false)
        }
        Attempt::Failed(why) => {
            metrics::counter!(crate::monitoring::LOGOUT_FAILURES, "outcome" => "retry")
                .increment(1);
            let wait = backoff(notice.attempts);
            tracing::info!(
                notice = %notice.id, client_id = %notice.client_id,
                attempts = notice.attempts, retry_in = wait, error = %why,
                "back-channel logout failed; will retry"
            );
            store.logout_failed(&notice.id, now + wait, &why).await?;
            Ok(false)
        }
    }
}

/// Delivers what is due once; how many notifications were claimed.
pub async fn deliver_due(services: &Services) -> anyhow::Result<usize> {
    let claimed = services
        .store
        .claim_logouts(unix_now(), LEASE, BATCH)
        .await?;
    let count = claimed.len();
    let outcomes: Vec<anyhow::Result<bool>> = futures_util::stream::iter(claimed)
        .map(|notice| settle(services, notice))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        outcome?;
    }
    Ok(count)
}

/// The outbox worker: runs until the task is aborted.
pub async fn run(state: AppState) {
    loop {
        match deliver_due(&state).await {
            Ok(claimed) if claimed > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not process the logout outbox"),
        }
        tokio::select! {
            () = state.logouts.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> LogoutNotice {
        LogoutNotice {
            id: "n1".into(),
            tenant_id: "t".into(),
            issuer: "https://id.example/contoso".into(),
            client_id: "app".into(),
            uri: "https://rp.example/bc".into(),
            sub: "pairwise".into(),
            sid: "session".into(),
            created_at: 100,
            attempts: 1,
        }
    }

    #[test]
    fn a_logout_token_has_the_spec_claims_and_never_a_nonce() {
        let claims = logout_claims(&notice(), 1000);
        assert_eq!(claims["iss"], "https://id.example/contoso");
        assert_eq!(claims["aud"], "app");
        assert_eq!(claims["iat"], 1000);
        assert_eq!(claims["exp"], 1000 + TOKEN_TTL);
        assert_eq!(claims["sub"], "pairwise");
        assert_eq!(claims["sid"], "session");
        assert_eq!(claims["events"], json!({ BACKCHANNEL_EVENT: {} }));
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        assert!(!claims.contains_key("nonce"));
        assert_ne!(logout_claims(&notice(), 1000)["jti"], claims["jti"]);
    }

    #[test]
    fn retries_back_off_and_are_capped() {
        assert_eq!(
            (1..=5).map(backoff).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16]
        );
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(0), 1);
    }
}
