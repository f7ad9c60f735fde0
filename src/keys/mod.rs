//! The signing key ring: which key signs now, which keys the JWKS publishes, and rotation.
//!
//! Each key's state follows from its stored times, so every node agrees without talking to
//! the others:
//! - *next*: published (`created_at`), not scheduled (`activated_at` is `None`);
//! - *active*: `activated_at <= now` and not yet retired; the newest active key signs;
//! - *retired*: `retired_at <= now`; still published until every token it signed has
//!   expired and every cached JWKS has been refreshed, then deleted at the next rotation.
//!
//! A rotation activates the current next key no earlier than `jwks_max_age` after it was
//! visible on *every* node (SECURITY.md D.43) and publishes a fresh next key. Nodes re-read the
//! ring when the configuration generation moves: at once on Postgres (`NOTIFY`), else at
//! their next poll, and in any case within `refresh_interval`; creation times are whole
//! seconds. So a key counts as visible everywhere `refresh_interval + 1` seconds after its
//! stored creation time, and it signs no earlier than `jwks_max_age` after that — whatever the
//! rotation cadence (two rotations in a row schedule the second key the same way). A JWKS
//! response is never cacheable past the next scheduled activation, so no cached copy outlives
//! the moment a key starts signing.

pub mod certificate;
pub mod master;
mod rotation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::Either;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{ES256, JwsSigner, JwsVerifier, RS256};

pub use master::MasterKey;
pub use rotation::{KeyTimings, RotationReport, plan_rotation};
use rotation::{is_active, is_published};

use crate::domain::app::SigningAlg;
use crate::domain::unix_now;
use crate::store::{KeyRingChanges, Store, StoreError, StoredKey};

/// A key loaded into memory, ready to sign and verify.
struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    public_jwk: serde_json::Value,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    saml: Option<Arc<SamlKey>>,
}

/// An RSA key as SAML uses it: its certificate for metadata and `KeyInfo`, and the private
/// key in DER for xmlsec.
pub struct SamlKey {
    /// Key id.
    pub kid: String,
    /// The X.509 certificate, base64 DER.
    pub certificate: String,
    /// The private key, PKCS#1 DER.
    pub private_der: Vec<u8>,
}

impl std::fmt::Debug for SamlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The ring as loaded from the database at one moment.
struct Snapshot {
    keys: Vec<LoadedKey>,
    by_kid: HashMap<String, usize>,
}

/// The in-memory key ring of one node.
pub struct KeyRing {
    snapshot: RwLock<Arc<Snapshot>>,
    store: Arc<dyn Store>,
    master: MasterKey,
    timings: KeyTimings,
    /// Next keys `load` left generating: a fresh node's, or those of a ring that had none
    /// (`finish_bootstrap` publishes them).
    pending_next: Mutex<Vec<KeyGeneration>>,
    /// Whether `pending_next` has been dealt with.
    next_published: tokio::sync::watch::Sender<bool>,
}

/// A key being generated on the blocking pool.
type KeyGeneration = tokio::task::JoinHandle<anyhow::Result<StoredKey>>;

/// The first keys of a node whose database is new (no migration has run on it), generation
/// started before the database is migrated, so that the two overlap: RSA generation is most
/// of a fresh node's start.
pub struct HeadStart(Vec<(SigningAlg, Vec<KeyGeneration>)>);

impl HeadStart {
    /// Starts `generations` generations of every algorithm (at most the two
    /// [`KeyRing::load`] races; it starts whatever is missing once the database is migrated).
    /// One leaves a core to a database server migrating on the same machine.
    pub fn start(master: &MasterKey, generations: usize) -> Self {
        Self(
            SigningAlg::ALL
                .into_iter()
                .map(|alg| {
                    let started = (0..generations.clamp(1, 2))
                        .map(|_| spawn_generation(master.clone(), alg))
                        .collect();
                    (alg, started)
                })
                .collect(),
        )
    }
}

impl std::fmt::Debug for HeadStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadStart").finish_non_exhaustive()
    }
}

/// Starts generating a key of `alg` (not yet active; stamped by whoever stores it).
fn spawn_generation(master: MasterKey, alg: SigningAlg) -> KeyGeneration {
    tokio::spawn(async move { generate_key(&master, alg, unix_now(), None).await })
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

/// A JWS signer with the key id it signs under.
pub struct ActiveSigner<'a> {
    /// Key id for the JOSE header.
    pub kid: &'a str,
    /// The signer.
    pub signer: &'a dyn JwsSigner,
}

impl KeyRing {
    /// Loads the ring. On a fresh database it creates the first active key of every
    /// algorithm; the next keys (and a next key for any algorithm that lacks one) are still
    /// being generated when this returns, for `finish_bootstrap` to publish.
    ///
    /// `head_start` holds generations already under way (see [`HeadStart`]); those of
    /// algorithms the ring turns out to have are dropped.
    pub async fn load(
        store: Arc<dyn Store>,
        master: MasterKey,
        timings: KeyTimings,
        head_start: Option<HeadStart>,
    ) -> anyhow::Result<Self> {
        let mut stored = store.list_keys().await?;
        let missing: Vec<SigningAlg> = SigningAlg::ALL
            .into_iter()
            .filter(|alg| !stored.iter().any(|k| k.alg == alg.as_str()))
            .collect();
        let mut pending = Vec::new();
        let bootstrapped = missing.clone();
        if !missing.is_empty() {
            // Two keys of each algorithm are generated at once, on the blocking pool. The
            // first to finish signs from now on; a fresh node's start waits for it alone (an
            // RSA-2048 key takes from a hundred milliseconds to most of a second, and the
            // faster of two is much quicker than the slower). The other becomes the
            // published next key as soon as it is ready (`finish_bootstrap`).
            let mut started = head_start.map(|h| h.0).unwrap_or_default();
            let pairs: Vec<_> = missing
                .into_iter()
                .map(|alg| {
                    let mut generations = match started.iter().position(|(a, _)| *a == alg) {
                        Some(i) => started.swap_remove(i).1,
                        None => Vec::new(),
                    };
                    while generations.len() < 2 {
                        generations.push(spawn_generation(master.clone(), alg));
                    }
                    let second = generations.swap_remove(1);
                    let first = generations.swap_remove(0);
                    (first, second)
                })
                .collect();
            let mut active = Vec::with_capacity(pairs.len());
            for (first, second) in pairs {
                match futures_util::future::select(first, second).await {
                    Either::Left((key, other)) | Either::Right((key, other)) => {
                        active.push(key??);
                        pending.push(other);
                    }
                }
            }
            // Stamped when stored, not when generation began (as rotations are): the
            // bootstrap keys count as published from now on.
            let stored_at = unix_now();
            let insert = active
                .into_iter()
                .map(|key| StoredKey {
                    created_at: stored_at,
                    activated_at: Some(stored_at),
                    ..key
                })
                .collect();
            let changes = KeyRingChanges {
                insert,
                ..KeyRingChanges::default()
            };
            match store.apply_key_changes(&changes).await {
                // Another node bootstrapped at the same moment: its keys are as good.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            stored = store.list_keys().await?;
        }
        // A ring without a published next key (a bootstrap that stopped before publishing
        // it) gets one now, in the background like a fresh node's.
        for alg in SigningAlg::ALL {
            let has_next = stored
                .iter()
                .any(|k| k.alg == alg.as_str() && k.activated_at.is_none());
            if !has_next && !bootstrapped.contains(&alg) {
                pending.push(spawn_generation(master.clone(), alg));
            }
        }
        for key in stored
            .iter_mut()
            .filter(|k| k.alg == "RS256" && k.certificate.is_none())
        {
            // Keys made before SAML support get their certificate now.
            let private = Jwk::from_bytes(master.open(&key.private_jwe)?)?;
            let certificate = rsa_certificate(&private, &key.kid, key.created_at)?;
            store.set_key_certificate(&key.kid, &certificate).await?;
            key.certificate = Some(certificate);
        }
        let snapshot = load_snapshot(&master, &stored)?;
        Ok(Self {
            snapshot: RwLock::new(Arc::new(snapshot)),
            store,
            master,
            timings,
            next_published: tokio::sync::watch::Sender::new(pending.is_empty()),
            pending_next: Mutex::new(pending),
        })
    }

    /// Publishes the next keys `load` left generating (a no-op on the usual start, when every
    /// algorithm has its next key already). Until then a rotation finds no next key for those
    /// algorithms and publishes its own fresh one, as it would for any ring without one; a
    /// next key another node published meanwhile makes this node's redundant, and it is
    /// dropped.
    pub async fn finish_bootstrap(&self) -> anyhow::Result<()> {
        let pending =
            std::mem::take(&mut *self.pending_next.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() {
            return Ok(());
        }
        let published = self.publish_next(pending).await;
        self.next_published.send_replace(true);
        published
    }

    /// Waits until `finish_bootstrap` has published (or failed to publish) the next keys a
    /// fresh node started without; at once when there were none.
    pub async fn next_keys_published(&self) {
        let mut published = self.next_published.subscribe();
        // The sender lives as long as `self`: this cannot fail while we hold it.
        let _ = published.wait_for(|done| *done).await;
    }

    /// Waits for the generations, then stores the keys and reloads the ring, retrying while
    /// the database takes no writes (down, or a full disk): the keys are kept meanwhile.
    async fn publish_next(&self, pending: Vec<KeyGeneration>) -> anyhow::Result<()> {
        let mut generated = Vec::with_capacity(pending.len());
        for key in pending {
            generated.push(key.await??);
        }
        let mut delay = std::time::Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            match self.store_next(&generated).await {
                Ok(()) => break,
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(error = %e, "the next signing keys cannot be stored yet; retrying until the database takes them");
                    }
                    failures += 1;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
        if failures > 0 {
            tracing::info!(
                attempts = failures + 1,
                "the next signing keys are published"
            );
        }
        Ok(())
    }

    /// Stores those of `generated` whose algorithm has no next key yet, then reloads the ring.
    async fn store_next(&self, generated: &[StoredKey]) -> anyhow::Result<()> {
        let stored = self.store.list_keys().await?;
        let stored_at = unix_now();
        let insert: Vec<StoredKey> = generated
            .iter()
            .filter(|key| {
                !stored
                    .iter()
                    .any(|k| k.alg == key.alg && k.activated_at.is_none())
            })
            .map(|key| StoredKey {
                created_at: stored_at,
                activated_at: None,
                ..key.clone()
            })
            .collect();
        if !insert.is_empty() {
            let changes = KeyRingChanges {
                insert,
                ..KeyRingChanges::default()
            };
            self.store.apply_key_changes(&changes).await?;
        }
        self.reload().await
    }

    /// Re-reads the ring from the database (called when the configuration generation moves).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let stored = self.store.list_keys().await?;
        let snapshot = load_snapshot(&self.master, &stored)?;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Signs with the active key of `alg` at `now`, passing the signer to `sign`.
    pub fn with_signer<R>(
        &self,
        alg: SigningAlg,
        now: i64,
        sign: impl FnOnce(ActiveSigner<'_>) -> R,
    ) -> Option<R> {
        let snapshot = self.current();
        let key = snapshot
            .keys
            .iter()
            .filter(|k| k.alg == alg && is_active(k.activated_at, k.retired_at, now))
            .max_by_key(|k| (k.activated_at, k.created_at))?;
        Some(sign(ActiveSigner {
            kid: &key.kid,
            signer: key.signer.as_ref(),
        }))
    }

    /// Runs `verify` with the verifier of key `kid`, if the ring has it.
    pub fn with_verifier<R>(
        &self,
        kid: &str,
        verify: impl FnOnce(&dyn JwsVerifier) -> R,
    ) -> Option<R> {
        let snapshot = self.current();
        let index = *snapshot.by_kid.get(kid)?;
        Some(verify(snapshot.keys[index].verifier.as_ref()))
    }

    /// The RSA key that signs SAML messages at `now` (the active RS256 key).
    pub fn saml_signing_key(&self, now: i64) -> Option<Arc<SamlKey>> {
        let snapshot = self.current();
        snapshot
            .keys
            .iter()
            .filter(|k| k.alg == SigningAlg::RS256 && is_active(k.activated_at, k.retired_at, now))
            .max_by_key(|k| (k.activated_at, k.created_at))
            .and_then(|k| k.saml.clone())
    }

    /// Certificates for SAML metadata at `now`: every published RSA key, so the next key is
    /// listed before it signs and the previous one until nothing it signed is alive.
    pub fn saml_certificates(&self, now: i64) -> Vec<String> {
        self.current()
            .keys
            .iter()
            .filter(|k| {
                k.alg == SigningAlg::RS256
                    && is_published(k.retired_at, now, self.timings.keep_retired)
            })
            .filter_map(|k| k.saml.as_ref().map(|s| s.certificate.clone()))
            .collect()
    }

    /// How long a JWKS served at `now` may be cached: `max_age`, but never past the next
    /// scheduled activation.
    pub fn jwks_max_age(&self, now: i64, max_age: u64) -> u64 {
        let next_activation = self
            .current()
            .keys
            .iter()
            .filter_map(|k| k.activated_at)
            .filter(|a| *a > now)
            .min();
        match next_activation {
            Some(at) => max_age.min((at - now).max(0) as u64),
            None => max_age,
        }
    }

    /// Every key's algorithm, state (`next`, `active`, `retired`) and age in seconds, for the
    /// metrics.
    pub fn key_ages(&self, now: i64) -> Vec<(&'static str, &'static str, i64)> {
        self.current()
            .keys
            .iter()
            .map(|k| {
                let state = if k.retired_at.is_some_and(|r| r <= now) {
                    "retired"
                } else if is_active(k.activated_at, k.retired_at, now) {
                    "active"
                } else {
                    "next"
                };
                (k.alg.as_str(), state, now - k.created_at)
            })
            .collect()
    }

    /// The JWKS document at `now`: next, active and recently retired keys.
    pub fn jwks(&self, now: i64) -> serde_json::Value {
        let snapshot = self.current();
        let keys: Vec<&serde_json::Value> = snapshot
            .keys
            .iter()
            .filter(|k| is_published(k.retired_at, now, self.timings.keep_retired))
            .map(|k| &k.public_jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Rotates every algorithm: see the module documentation. `now` is when the rotation
    /// began; the new keys are stamped with the time they are stored, which is later.
    pub async fn rotate(&self, now: i64) -> anyhow::Result<Vec<RotationReport>> {
        let mut fresh = Vec::new();
        for alg in SigningAlg::ALL {
            fresh.push((alg, generate_key(&self.master, alg, now, None).await?));
        }
        // A key counts as visible on every node `propagation` after its stored creation time,
        // so that time must not precede its storing: RSA generation alone can take seconds
        // (more on a busy or debug build), and a key stamped before it would start signing
        // before every cache had it. Plan from the time it is stored.
        let now = now.max(unix_now());
        let stored = self.store.list_keys().await?;
        let mut changes = KeyRingChanges::default();
        let mut reports = Vec::new();
        for (alg, mut fresh_next) in fresh {
            fresh_next.created_at = now;
            let (plan, report) = plan_rotation(&stored, alg, now, self.timings, fresh_next)?;
            changes.insert.extend(plan.insert);
            changes.activate.extend(plan.activate);
            changes.retire.extend(plan.retire);
            changes.delete.extend(plan.delete);
            reports.push(report);
        }
        self.store
            .apply_key_changes(&changes)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(why) => {
                    anyhow::anyhow!(
                        "another rotation ran at the same time ({why}); nothing was changed"
                    )
                }
                other => other.into(),
            })?;
        self.reload().await?;
        Ok(reports)
    }
}

/// Generates a key pair (on the blocking pool: RSA generation takes tens of milliseconds).
async fn generate_key(
    master: &MasterKey,
    alg: SigningAlg,
    now: i64,
    activated_at: Option<i64>,
) -> anyhow::Result<StoredKey> {
    let mut private = tokio::task::spawn_blocking(move || match alg {
        SigningAlg::RS256 => Jwk::generate_rsa_key(2048),
        SigningAlg::ES256 => Jwk::generate_ec_key(EcCurve::P256),
    })
    .await??;
    let kid = crate::secrets::random_token(16);
    private.set_key_id(&kid);
    private.set_algorithm(alg.as_str());
    private.set_key_use("sig");
    let mut public = private.to_public_key()?;
    public.set_key_id(&kid);
    public.set_algorithm(alg.as_str());
    public.set_key_use("sig");
    let certificate = match alg {
        SigningAlg::RS256 => Some(rsa_certificate(&private, &kid, now)?),
        SigningAlg::ES256 => None,
    };
    Ok(StoredKey {
        kid,
        alg: alg.to_string(),
        private_jwe: master.seal(private.to_string().as_bytes())?,
        public_jwk: public.to_string(),
        created_at: now,
        activated_at,
        retired_at: None,
        certificate,
    })
}

/// The self-signed certificate (base64 DER) of an RSA private JWK.
fn rsa_certificate(private: &Jwk, kid: &str, issued_at: i64) -> anyhow::Result<String> {
    let der = RsaKeyPair::from_jwk(private)?.to_raw_private_key();
    Ok(STANDARD.encode(certificate::self_signed(&der, kid, issued_at)?))
}

fn load_snapshot(master: &MasterKey, stored: &[StoredKey]) -> anyhow::Result<Snapshot> {
    let mut keys = Vec::with_capacity(stored.len());
    for key in stored {
        let alg: SigningAlg = key.alg.parse()?;
        let private = master.open(&key.private_jwe).map_err(|_| {
            anyhow::anyhow!(
                "signing key {} cannot be decrypted: the master key (GATEHOUSE_MASTER_KEY or \
                 keys/master.key) is not the one the key ring was created with",
                key.kid
            )
        })?;
        let private = Jwk::from_bytes(&private)?;
        let public = Jwk::from_bytes(key.public_jwk.as_bytes())?;
        let saml = match (&key.certificate, alg) {
            (Some(certificate), SigningAlg::RS256) => Some(Arc::new(SamlKey {
                kid: key.kid.clone(),
                certificate: certificate.clone(),
                private_der: RsaKeyPair::from_jwk(&private)?.to_raw_private_key(),
            })),
            _ => None,
        };
        let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
            SigningAlg::RS256 => (
                Box::new(RS256.signer_from_jwk(&private)?),
                Box::new(RS256.verifier_from_jwk(&public)?),
            ),
            SigningAlg::ES256 => (
                Box::new(ES256.signer_from_jwk(&private)?),
                Box::new(ES256.verifier_from_jwk(&public)?),
            ),
        };
        keys.push(LoadedKey {
            kid: key.kid.clone(),
            alg,
            created_at: key.created_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            public_jwk: serde_json::from_str(&key.public_jwk)?,
            signer,
            verifier,
            saml,
        });
    }
    let by_kid = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.kid.clone(), i))
        .collect();
    Ok(Snapshot { keys, by_kid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A key ring on a fresh SQLite file; the directory holds the database and master key.
    async fn fresh() -> (KeyRing, Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        let store = crate::store::sql::connect(&url, 4).await.expect("a store");
        let master = MasterKey::load_or_create(None, dir.path()).expect("a master key");
        let timings = KeyTimings::from_config(&Config::default());
        let ring = KeyRing::load(store.clone(), master, timings, None)
            .await
            .expect("the ring loads");
        (ring, store, dir)
    }

    /// The stored key ids, in the store's order.
    async fn kids(store: &Arc<dyn Store>) -> Vec<String> {
        let keys = store.list_keys().await.expect("the keys");
        keys.into_iter().map(|k| k.kid).collect()
    }

    /// (active, next) key counts of `alg` in the store.
    async fn counts(store: &Arc<dyn Store>, alg: SigningAlg) -> (usize, usize) {
        let keys = store.list_keys().await.expect("the keys");
        let of_alg = keys.iter().filter(|k| k.alg == alg.as_str());
        let active = of_alg.clone().filter(|k| k.activated_at.is_some()).count();
        (active, of_alg.count() - active)
    }

    #[tokio::test]
    async fn a_fresh_node_signs_with_its_first_keys_at_once_and_publishes_the_next_ones_after() {
        let (ring, store, _dir) = fresh().await;
        // When `load` returns, every algorithm has its signing key and nothing else yet.
        let now = unix_now();
        for alg in SigningAlg::ALL {
            assert_eq!(counts(&store, alg).await, (1, 0), "{alg}");
            assert!(ring.with_signer(alg, now, |_| ()).is_some(), "{alg} signs");
        }
        assert!(ring.saml_signing_key(now).is_some());
        ring.finish_bootstrap()
            .await
            .expect("the next keys are published");
        ring.next_keys_published().await;
        for alg in SigningAlg::ALL {
            assert_eq!(counts(&store, alg).await, (1, 1), "{alg}");
        }
        // The reloaded ring publishes them (two keys of each algorithm) and still signs with
        // the first ones.
        let jwks = ring.jwks(unix_now());
        assert_eq!(jwks["keys"].as_array().expect("keys").len(), 4, "{jwks}");
        let stored = store.list_keys().await.expect("the keys");
        let active_rsa = stored
            .iter()
            .find(|k| k.alg == "RS256" && k.activated_at.is_some())
            .expect("an active RSA key");
        let kid = ring
            .with_signer(SigningAlg::RS256, unix_now(), |active| {
                active.kid.to_owned()
            })
            .expect("a signer");
        assert_eq!(kid, active_rsa.kid);
    }

    #[tokio::test]
    async fn a_ring_without_a_next_key_gets_one_at_its_next_start() {
        let (ring, store, dir) = fresh().await;
        ring.finish_bootstrap()
            .await
            .expect("the next keys are published");
        let next: Vec<String> = store
            .list_keys()
            .await
            .expect("the keys")
            .into_iter()
            .filter(|k| k.alg == "ES256" && k.activated_at.is_none())
            .map(|k| k.kid)
            .collect();
        store
            .apply_key_changes(&KeyRingChanges {
                delete: next,
                ..KeyRingChanges::default()
            })
            .await
            .expect("the ES256 next key is gone");
        assert_eq!(counts(&store, SigningAlg::ES256).await, (1, 0));
        let master = MasterKey::load_or_create(None, dir.path()).expect("the master key");
        let timings = KeyTimings::from_config(&Config::default());
        let restarted = KeyRing::load(store.clone(), master, timings, None)
            .await
            .expect("the ring loads");
        restarted.finish_bootstrap().await.expect("published");
        assert_eq!(counts(&store, SigningAlg::ES256).await, (1, 1));
        // The algorithm that had its next key is left alone.
        assert_eq!(counts(&store, SigningAlg::RS256).await, (1, 1));
        // Once done, a second call has nothing to do.
        restarted.finish_bootstrap().await.expect("a no-op");
        assert_eq!(counts(&store, SigningAlg::ES256).await, (1, 1));
    }

    #[tokio::test]
    async fn a_head_start_makes_the_first_keys_and_is_dropped_when_the_ring_has_them() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
        let master = MasterKey::load_or_create(None, dir.path()).expect("a master key");
        let timings = KeyTimings::from_config(&Config::default());
        let head_start = HeadStart::start(&master, 1);
        let store = crate::store::sql::connect(&url, 4).await.expect("a store");
        let ring = KeyRing::load(store.clone(), master.clone(), timings, Some(head_start))
            .await
            .expect("the ring loads");
        ring.finish_bootstrap()
            .await
            .expect("the next keys are published");
        for alg in SigningAlg::ALL {
            assert_eq!(counts(&store, alg).await, (1, 1), "{alg}");
        }
        let before = kids(&store).await;
        // A head start on a database that has its keys changes nothing.
        let again = KeyRing::load(
            store.clone(),
            master.clone(),
            timings,
            Some(HeadStart::start(&master, 2)),
        )
        .await
        .expect("the ring loads");
        again.finish_bootstrap().await.expect("a no-op");
        let after = kids(&store).await;
        assert_eq!(before, after);
    }
}
