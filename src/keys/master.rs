//! The master key: 256 bits that seal private signing keys (and later TOTP secrets) at rest.
//!
//! It comes from `GATEHOUSE_MASTER_KEY` or from `{keys_dir}/master.key`, which is created on
//! first start with mode 0600 and is git-ignored. Sealed values are compact JWEs
//! (`alg: dir`, `enc: A256GCM`) made by josekit, so no cryptography is hand-written here.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{self, Dir, JweHeader};

/// File name of the master key inside the keys directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The master key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// A sealed value could not be opened (wrong master key or tampering).
#[derive(Debug, thiserror::Error)]
#[error("cannot open a sealed value: {0}")]
pub struct SealError(String);

impl MasterKey {
    /// Parses base64url (or standard base64) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let key = crate::secrets::decode_key(text)?;
        Ok(Self(key))
    }

    /// The configured key, or the key file in `keys_dir` (created with a fresh random key if
    /// it does not exist).
    pub fn load_or_create(configured: Option<&str>, keys_dir: &Path) -> anyhow::Result<Self> {
        if let Some(text) = configured {
            return Self::from_base64(text)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_MASTER_KEY is not usable: {e}"));
        }
        let path = keys_dir.join(MASTER_KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text)
                .map_err(|e| anyhow::anyhow!("{} is not usable: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(&path),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        }
        let mut key = [0u8; 32];
        rand::fill(&mut key[..]);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| file.write_all(URL_SAFE_NO_PAD.encode(key).as_bytes()));
        match written {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new master key");
                Ok(Self(key))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load_or_create(None, path.parent().unwrap_or(Path::new(".")))
            }
            Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
        }
    }

    /// Seals `plaintext` as a compact JWE.
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        let encrypter = Dir.encrypter_from_bytes(self.0)?;
        Ok(jwe::serialize_compact(plaintext, &header, &encrypter)?)
    }

    /// Opens a value sealed by [`MasterKey::seal`].
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let decrypter = Dir
            .decrypter_from_bytes(self.0)
            .map_err(|e| SealError(e.to_string()))?;
        let (plaintext, _) =
            jwe::deserialize_compact(sealed, &decrypter).map_err(|e| SealError(e.to_string()))?;
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_other_keys_cannot_open() {
        let key = MasterKey::from_base64(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        let sealed = key.seal(b"private").unwrap();
        assert!(!sealed.contains("private"));
        assert_eq!(key.open(&sealed).unwrap(), b"private");
        let other = MasterKey::from_base64(&URL_SAFE_NO_PAD.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn rejects_short_keys_and_creates_a_private_file() {
        assert!(
            MasterKey::from_base64("c2hvcnQ")
                .unwrap_err()
                .contains("32")
        );
        let dir = tempfile::tempdir().unwrap();
        let created = MasterKey::load_or_create(None, dir.path()).unwrap();
        let again = MasterKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(created.0, again.0);
        let mode = fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
