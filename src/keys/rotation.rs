//! Key rotation, planned from the stored ring alone: the timings that keep every node and
//! every cached JWKS ahead of a key that starts signing, and one algorithm's plan (activate
//! the published next key, retire the active one, publish a fresh next key, delete keys whose
//! tokens have all expired).

use serde::Serialize;

use crate::config::Config;
use crate::domain::app::SigningAlg;
use crate::store::{KeyRingChanges, StoredKey};

/// How long keys are kept after retirement and ahead of activation.
#[derive(Debug, Clone, Copy)]
pub struct KeyTimings {
    /// A new key is in every node's JWKS at least this long before it signs (the JWKS
    /// max-age).
    pub publish_ahead: i64,
    /// How long after its stored creation time a key may take to be loaded by every node: the
    /// refresh interval plus one second (creation times are whole seconds).
    pub propagation: i64,
    /// A retired key stays published this long: the longest token lifetime plus max-age.
    pub keep_retired: i64,
}

impl KeyTimings {
    /// Timings derived from the configuration.
    pub fn from_config(config: &Config) -> Self {
        let max_age = config.keys.jwks_max_age as i64;
        Self {
            publish_ahead: max_age,
            propagation: config.keys.refresh_interval as i64 + 1,
            keep_retired: config.tokens.longest_jwt_ttl() as i64 + max_age,
        }
    }

    /// The earliest a key created at `created_at` may sign: visible everywhere, then cached
    /// everywhere for a full max-age.
    pub fn earliest_activation(&self, created_at: i64) -> i64 {
        created_at + self.propagation + self.publish_ahead
    }
}

/// What a rotation did for one algorithm, as printed by `gatehouse keys rotate`.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// Algorithm.
    pub alg: String,
    /// Key that starts signing.
    pub activated_kid: String,
    /// When it starts signing (Unix seconds).
    pub activates_at: i64,
    /// Key that stops signing then, if any.
    pub retired_kid: Option<String>,
    /// The freshly published next key.
    pub next_kid: String,
    /// Keys dropped from the ring because nothing they signed is alive any more.
    pub deleted_kids: Vec<String>,
}

/// Whether a key signs at `now`.
pub(super) fn is_active(activated_at: Option<i64>, retired_at: Option<i64>, now: i64) -> bool {
    activated_at.is_some_and(|a| a <= now) && retired_at.is_none_or(|r| r > now)
}

/// Whether a key is in the JWKS at `now`.
pub(super) fn is_published(retired_at: Option<i64>, now: i64, keep_retired: i64) -> bool {
    retired_at.is_none_or(|r| r + keep_retired > now)
}

/// Computes one algorithm's rotation: activate the oldest next key (not before it has been
/// published for `publish_ahead`), retire the current active key at the same instant,
/// publish `fresh_next`, and delete keys retired for longer than `keep_retired`.
pub fn plan_rotation(
    stored: &[StoredKey],
    alg: SigningAlg,
    now: i64,
    timings: KeyTimings,
    fresh_next: StoredKey,
) -> anyhow::Result<(KeyRingChanges, RotationReport)> {
    let of_alg: Vec<&StoredKey> = stored.iter().filter(|k| k.alg == alg.as_str()).collect();
    if let Some(pending) = of_alg
        .iter()
        .find(|k| k.activated_at.is_some_and(|a| a > now))
    {
        anyhow::bail!(
            "a {alg} rotation is already scheduled: key {} starts signing at {}; run rotate again after that",
            pending.kid,
            pending.activated_at.unwrap_or_default()
        );
    }
    let active = of_alg
        .iter()
        .filter(|k| is_active(k.activated_at, k.retired_at, now))
        .max_by_key(|k| (k.activated_at, k.created_at));
    let mut changes = KeyRingChanges::default();
    let next = match of_alg
        .iter()
        .filter(|k| k.activated_at.is_none())
        .min_by_key(|k| k.created_at)
    {
        Some(next) => (*next).clone(),
        None => {
            // No published successor: the fresh key becomes it and waits its turn.
            changes.insert.push(fresh_next.clone());
            fresh_next.clone()
        }
    };
    let activates_at = now.max(timings.earliest_activation(next.created_at));
    changes.activate.push((next.kid.clone(), activates_at));
    if let Some(active) = active {
        changes.retire.push((active.kid.clone(), activates_at));
    }
    let new_next_kid = if next.kid == fresh_next.kid {
        next.kid.clone()
    } else {
        changes.insert.push(fresh_next.clone());
        fresh_next.kid
    };
    changes.delete = of_alg
        .iter()
        .filter(|k| !is_published(k.retired_at, now, timings.keep_retired))
        .map(|k| k.kid.clone())
        .collect();
    let report = RotationReport {
        alg: alg.to_string(),
        activated_kid: next.kid,
        activates_at,
        retired_kid: active.map(|k| k.kid.clone()),
        next_kid: new_next_kid,
        deleted_kids: changes.delete.clone(),
    };
    Ok((changes, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, created: i64, activated: Option<i64>, retired: Option<i64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: "RS256".into(),
            private_jwe: String::new(),
            public_jwk: String::new(),
            created_at: created,
            activated_at: activated,
            retired_at: retired,
            certificate: None,
        }
    }

    const TIMINGS: KeyTimings = KeyTimings {
        publish_ahead: 300,
        propagation: 3,
        keep_retired: 3900,
    };

    #[test]
    fn rotation_activates_the_published_next_key_and_retires_the_active_one() {
        let ring = [key("a", 0, Some(0), None), key("n", 0, None, None)];
        let (changes, report) = plan_rotation(
            &ring,
            SigningAlg::RS256,
            10_000,
            TIMINGS,
            key("f", 10_000, None, None),
        )
        .unwrap();
        assert_eq!(changes.activate, vec![("n".to_owned(), 10_000)]);
        assert_eq!(changes.retire, vec![("a".to_owned(), 10_000)]);
        assert_eq!(changes.insert.len(), 1);
        assert_eq!(report.next_kid, "f");
    }

    #[test]
    fn a_recently_published_key_waits_until_caches_have_seen_it() {
        let ring = [key("a", 0, Some(0), None), key("n", 9_900, None, None)];
        let (changes, _) = plan_rotation(
            &ring,
            SigningAlg::RS256,
            10_000,
            TIMINGS,
            key("f", 10_000, None, None),
        )
        .unwrap();
        // Visible everywhere 3 s after its creation, then a full max-age of caches.
        assert_eq!(changes.activate, vec![("n".to_owned(), 10_203)]);
        assert_eq!(changes.retire, vec![("a".to_owned(), 10_203)]);
    }

    #[test]
    fn back_to_back_rotations_give_the_second_key_a_full_max_age_after_every_node_has_it() {
        // The first rotation (at 10 000) activates the old next key at once and publishes
        // "f1"; a second one a second later must not let "f1" sign before every node has
        // loaded it and every cache fetched since has expired.
        let ring = [
            key("a", 0, Some(0), Some(10_000)),
            key("n", 0, Some(10_000), None),
            key("f1", 10_000, None, None),
        ];
        let (changes, _) = plan_rotation(
            &ring,
            SigningAlg::RS256,
            10_001,
            TIMINGS,
            key("f2", 10_001, None, None),
        )
        .unwrap();
        let (_, activates_at) = changes.activate[0].clone();
        assert_eq!(changes.activate[0].0, "f1");
        assert!(
            activates_at >= 10_000 + TIMINGS.propagation + TIMINGS.publish_ahead,
            "{activates_at}"
        );
    }

    #[test]
    fn a_second_rotation_before_the_first_takes_effect_is_refused() {
        let ring = [
            key("a", 0, Some(0), Some(500)),
            key("n", 0, Some(500), None),
        ];
        assert!(
            plan_rotation(
                &ring,
                SigningAlg::RS256,
                400,
                TIMINGS,
                key("f", 400, None, None)
            )
            .is_err()
        );
    }

    #[test]
    fn long_retired_keys_are_deleted_and_recent_ones_kept() {
        let ring = [
            key("old", 0, Some(0), Some(100)),
            key("recent", 0, Some(100), Some(9_000)),
            key("a", 0, Some(9_000), None),
            key("n", 0, None, None),
        ];
        let (changes, _) = plan_rotation(
            &ring,
            SigningAlg::RS256,
            10_000,
            TIMINGS,
            key("f", 10_000, None, None),
        )
        .unwrap();
        assert_eq!(changes.delete, vec!["old".to_owned()]);
        assert!(is_published(Some(9_000), 10_000, TIMINGS.keep_retired));
    }
}
