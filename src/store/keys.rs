//! Storage of the signing key ring.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::sql::{RowsAffected, for_sql_backends, q};
use super::{StoreError, StoreResult};

/// A signing key as stored: the private key sealed under the master key, the public JWK, and
/// the times that decide its state (next → active → retired).
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredKey {
    /// Key id (`kid`).
    pub kid: String,
    /// JOSE algorithm.
    pub alg: String,
    /// The private JWK, sealed as a compact JWE under the master key.
    pub private_jwe: String,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Publication time.
    pub created_at: i64,
    /// When it starts signing (`None`: not scheduled yet).
    pub activated_at: Option<i64>,
    /// When it stops signing.
    pub retired_at: Option<i64>,
    /// X.509 certificate of an RSA key (base64 DER), for SAML metadata.
    pub certificate: Option<String>,
}

/// A set of changes to the key ring, applied atomically.
#[derive(Debug, Default, Clone)]
pub struct KeyRingChanges {
    /// Keys to publish.
    pub insert: Vec<StoredKey>,
    /// `(kid, at)`: schedule a not-yet-scheduled key to start signing at `at`.
    pub activate: Vec<(String, i64)>,
    /// `(kid, at)`: schedule a signing key to stop at `at`.
    pub retire: Vec<(String, i64)>,
    /// Keys to drop from the ring (retired long enough that no token they signed is alive).
    pub delete: Vec<String>,
}

/// Storage of the key ring.
#[async_trait]
pub trait KeyStore {
    /// Every key in the ring.
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Records the certificate of a key made before keys had certificates.
    async fn set_key_certificate(&self, kid: &str, certificate: &str) -> StoreResult<()>;
    /// Applies `changes` in one transaction. If another node changed the same keys first,
    /// nothing is applied and [`StoreError::Conflict`] is returned.
    async fn apply_key_changes(&self, changes: &KeyRingChanges) -> StoreResult<()>;
}

for_sql_backends! {
    impl KeyStore {
        async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
            Ok(sqlx::query_as::<DB, StoredKey>(
                "SELECT kid, alg, private_jwe, public_jwk, created_at, activated_at, retired_at, \
                 certificate FROM signing_keys ORDER BY created_at, kid",
            )
            .fetch_all(&self.pool)
            .await?)
        }

        async fn set_key_certificate(&self, kid: &str, certificate: &str) -> StoreResult<()> {
            sqlx::query::<DB>("UPDATE signing_keys SET certificate = $1 WHERE kid = $2")
                .bind(certificate)
                .bind(kid)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn apply_key_changes(&self, changes: &KeyRingChanges) -> StoreResult<()> {
            let mut tx = self.begin_write().await?;
            for key in &changes.insert {
                sqlx::query::<DB>(
                    "INSERT INTO signing_keys (kid, alg, private_jwe, public_jwk, created_at, \
                     activated_at, retired_at, certificate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(key.kid.as_str())
                .bind(key.alg.as_str())
                .bind(key.private_jwe.as_str())
                .bind(key.public_jwk.as_str())
                .bind(key.created_at)
                .bind(key.activated_at)
                .bind(key.retired_at)
                .bind(key.certificate.as_deref())
                .execute(&mut *tx)
                .await?;
            }
            for (kid, at) in &changes.activate {
                let done = sqlx::query::<DB>(
                    "UPDATE signing_keys SET activated_at = $1 WHERE kid = $2 AND activated_at IS NULL",
                )
                .bind(*at)
                .bind(kid.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!("key {kid} was already scheduled")));
                }
            }
            for (kid, at) in &changes.retire {
                let done = sqlx::query::<DB>(
                    "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
                )
                .bind(*at)
                .bind(kid.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!("key {kid} was already retired")));
                }
            }
            for kid in &changes.delete {
                sqlx::query::<DB>("DELETE FROM signing_keys WHERE kid = $1")
                    .bind(kid.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query::<DB>(q::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
