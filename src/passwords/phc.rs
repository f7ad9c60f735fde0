//! Argon2 hashes as PHC strings, computed in pooled work memory ([`WorkMemory`]).
//!
//! The `argon2` crate's `PasswordHasher` and `PasswordVerifier` allocate 19 MiB for every hash;
//! its `hash_password_into_with_memory` runs the same function in memory the caller owns but
//! speaks raw bytes. This is the glue between the two, and nothing more: the PHC string is
//! parsed and printed by the crate's own types (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, the same
//! strings both ways), the parameters, salt and output length come from the stored string, and
//! the outputs are compared in constant time by `phc::Output`'s equality.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::try_generate_salt;
use argon2::{Algorithm, Argon2, Params, Version};

use super::memory::WorkMemory;

/// Hashes a password with Gatehouse's parameters (argon2id v19, [`Params::DEFAULT`]) and a
/// random 16-byte salt into a PHC string.
pub fn hash(memory: &WorkMemory, password: &[u8]) -> anyhow::Result<String> {
    let salt = try_generate_salt().map_err(|e| anyhow::anyhow!("no random salt: {e}"))?;
    let params = Params::DEFAULT;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    run(memory, &argon2, &params, password, &salt, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(phc_error)?,
        salt: Some(Salt::new(&salt).map_err(phc_error)?),
        hash: Some(Output::new(&out).map_err(phc_error)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored PHC string. A string that does not parse, names another
/// algorithm or has no salt or output matches nothing.
pub fn verify(memory: &WorkMemory, password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::new(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    // The stored m, t, p and output length (a hash made with other parameters still verifies).
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    if run(memory, &argon2, &params, password, salt, &mut out).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// One argon2 run in a pooled buffer of the parameters' size.
fn run(
    memory: &WorkMemory,
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> anyhow::Result<()> {
    let mut blocks = memory.take(params.block_count());
    let result = argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..]);
    memory.give_back(blocks);
    result.map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))
}

fn phc_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("PHC string: {e}")
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;
    use crate::passwords::memory::QUIET;

    #[test]
    fn the_glue_and_the_crate_read_each_others_strings() {
        let memory = WorkMemory::new(QUIET, 1);
        let ours = hash(&memory, b"correct horse").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // The crate's own verifier accepts our string...
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        // ...and we accept the crate's (every hash stored before this glue existed).
        let theirs = Argon2::default()
            .hash_password(b"battery staple")
            .unwrap()
            .to_string();
        assert!(verify(&memory, b"battery staple", &theirs));
        assert!(!verify(&memory, b"battery stapler", &theirs));
        assert!(verify(&memory, b"correct horse", &ours));
        assert!(!verify(&memory, b"correct horse ", &ours));
    }

    #[test]
    fn other_parameters_and_variants_verify_with_their_own() {
        let memory = WorkMemory::new(QUIET, 1);
        let params = Params::new(4096, 3, 1, Some(24)).unwrap();
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            let phc = Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password(b"old parameters")
                .unwrap()
                .to_string();
            assert!(verify(&memory, b"old parameters", &phc), "{phc}");
            assert!(!verify(&memory, b"old parameter", &phc), "{phc}");
        }
    }

    #[test]
    fn strings_that_are_not_argon2_hashes_match_nothing() {
        let memory = WorkMemory::new(QUIET, 1);
        let good = hash(&memory, b"pw").unwrap();
        let no_output = good.rsplit_once('$').unwrap().0.to_owned();
        for stored in [
            "",
            "plain text",
            "$argon2id$v=19$m=19456,t=2,p=1",
            no_output.as_str(),
            &good.replace("argon2id", "scrypt"),
            &good.replace("v=19", "v=99"),
            &good.replace("m=19456", "m=1"),
        ] {
            assert!(!verify(&memory, b"pw", stored), "{stored:?}");
        }
    }
}
