//! E-mail one-time passcodes (SECURITY.md I.68): six digits from the CSPRNG, stored as a
//! digest in the ephemeral store for 10 minutes, single use (taken atomically), at most five
//! wrong tries per code, a new code voids the old one, at most five sends per address and
//! twenty per client address an hour, across nodes. A passcode proves control of a mailbox;
//! it is never a second factor.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::ephemeral::Json;
use crate::i18n::{Locale, Text};
use crate::mail::compose;
use crate::secrets;
use crate::services::Error;
use crate::services::Services;

/// Lifetime of a passcode.
pub const CODE_TTL: i64 = 600;
/// Wrong tries before a code is void.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    hash: String,
    attempts: u32,
    expires_at: i64,
}

fn key(tenant: &Tenant, purpose: &str, email: &str) -> String {
    format!("otp:{}:{purpose}:{}", tenant.id, email.to_ascii_lowercase())
}

/// The outcome of asking for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Sent (or, for an address that gets none, answered as if sent).
    Sent,
    /// Too many codes asked for; try again later.
    Throttled,
}

/// Sends a code for `purpose` to `email` in `locale` (throttled per address and, when given,
/// per client address) — only when `deliver` (the address may receive one); otherwise answers
/// the same without sending, so the answer reveals nothing.
pub async fn send(
    state: &Services,
    tenant: &Tenant,
    email: &str,
    purpose: &str,
    ip: Option<IpAddr>,
    deliver: bool,
    locale: Locale,
) -> Result<Sent, Error> {
    let hour = Duration::from_secs(3600);
    let by_address = state
        .ephemeral
        .incr(
            &format!("otpsend:{}:{}", tenant.id, email.to_ascii_lowercase()),
            hour,
        )
        .await?;
    // Sends the server starts on its own (no client address at hand) count per address only.
    let by_ip = match ip {
        Some(ip) => {
            state
                .ephemeral
                .incr(&format!("otpsend-ip:{ip}"), hour)
                .await?
        }
        None => 0,
    };
    let limits = &state.config.throttle;
    if by_address > limits.passcode_sends_per_address || by_ip > limits.passcode_sends_per_ip {
        tracing::info!(tenant = %tenant.slug, "passcode sending throttled");
        return Ok(Sent::Throttled);
    }
    if !deliver {
        return Ok(Sent::Sent);
    }
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let record = Record {
        hash: secrets::hash_secret(&code),
        attempts: 0,
        expires_at: unix_now() + CODE_TTL,
    };
    Json(state.ephemeral.as_ref())
        .put(
            &key(tenant, purpose, email),
            &record,
            Duration::from_secs(CODE_TTL as u64),
        )
        .await?;
    let brand = compose::MailBrand::of(tenant, state.config.base_url());
    let message = state.mailer.seal(
        compose::passcode(&tenant.id, &brand, email, &code, locale)
            .map_err(|e| anyhow::Error::new(e).context("page rendering failed"))?,
    )?;
    state
        .store
        .enqueue_mail(&message)
        .await
        .map_err(Error::unexpected)?;
    state.mailer.wake();
    tracing::info!(tenant = %tenant.slug, "passcode sent");
    Ok(Sent::Sent)
}

/// What a submitted code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The code, now spent.
    Valid,
    /// Not the code; it may still be tried.
    Wrong,
    /// No live code (never sent, used, expired, or replaced by a newer one).
    Expired,
    /// The code was entered wrongly too many times and no longer works, even when right.
    Void,
}

impl Checked {
    /// What to tell the person who entered a code that was not [`Checked::Valid`].
    pub fn message(self) -> Text {
        match self {
            Self::Void => Text::new("code-error-void"),
            Self::Valid | Self::Wrong | Self::Expired => Text::new("code-error-wrong"),
        }
    }
}

/// Checks a code. A correct code is consumed (of concurrent correct submissions exactly one
/// succeeds); a wrong one counts against the code, which is void after five: it stays void
/// (even the right code is refused) until it expires or a new code replaces it.
pub async fn check(
    state: &Services,
    tenant: &Tenant,
    email: &str,
    purpose: &str,
    code: &str,
) -> Result<Checked, Error> {
    let key = key(tenant, purpose, email);
    let json = Json(state.ephemeral.as_ref());
    let Some(mut record) = json.take::<Record>(&key).await? else {
        return Ok(Checked::Expired);
    };
    let now = unix_now();
    if record.expires_at <= now {
        return Ok(Checked::Expired);
    }
    let keep = Duration::from_secs((record.expires_at - now).max(1) as u64);
    if record.attempts >= MAX_ATTEMPTS {
        json.put(&key, &record, keep).await?;
        return Ok(Checked::Void);
    }
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if secrets::constant_time_eq(&secrets::hash_secret(&code), &record.hash) {
        return Ok(Checked::Valid);
    }
    record.attempts += 1;
    json.put(&key, &record, keep).await?;
    if record.attempts >= MAX_ATTEMPTS {
        tracing::info!(tenant = %tenant.slug, "passcode voided after too many wrong tries");
        return Ok(Checked::Void);
    }
    Ok(Checked::Wrong)
}

/// Whether `code` is the live code (then spent); see [`check`].
pub async fn verify(
    state: &Services,
    tenant: &Tenant,
    email: &str,
    purpose: &str,
    code: &str,
) -> Result<bool, Error> {
    Ok(check(state, tenant, email, purpose, code).await? == Checked::Valid)
}
