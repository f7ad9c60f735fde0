//! TOTP (RFC 6238) with totp-rs: 160-bit secrets, six digits, 30-second steps, ±1 step of
//! clock drift; the otpauth URI and its QR code (inline SVG, so the page loads nothing from
//! elsewhere); single-use recovery codes.
//!
//! "A code is accepted once" is not decided here: [`matching_step`] says which time step a
//! code belongs to and the store accepts each step at most once per method
//! (`MfaStore::accept_totp_step`).

use totp_rs::{Algorithm, Secret, TOTP};

use crate::secrets;

/// Bytes of a new secret (160 bits: RFC 4226 §4 R6 recommends it).
pub const SECRET_BYTES: usize = 20;
/// Seconds per step.
pub const STEP: u64 = 30;
/// Recovery codes issued at once.
pub const RECOVERY_CODES: usize = 10;

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::fill(&mut secret[..]);
    secret
}

/// otpauth labels may not hold ':' (the issuer/account separator).
fn label(text: &str) -> String {
    text.replace(':', " ")
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret.to_vec(),
        Some(label(issuer)),
        label(account),
    )
    .map_err(|e| anyhow::anyhow!("TOTP parameters refused: {e}"))
}

/// What the enrolment page shows: the otpauth URI, its QR code as SVG, and the manual key.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// `otpauth://totp/...`.
    pub uri: String,
    /// The QR code of `uri`, an `<svg>` element.
    pub qr_svg: String,
    /// The secret in base32, grouped by four for typing.
    pub manual_key: String,
}

/// The enrolment material for `secret`.
pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> anyhow::Result<Enrolment> {
    let totp = totp(secret, issuer, account)?;
    let uri = totp.get_url();
    let qr = qrcode::QrCode::new(uri.as_bytes())?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The renderer starts with an XML declaration, which has no place inside HTML.
    let qr_svg = match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    };
    let encoded = Secret::Raw(secret.to_vec()).to_encoded().to_string();
    let manual_key = encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Enrolment {
        uri,
        qr_svg,
        manual_key,
    })
}

/// Whether `code` looks like a TOTP code (six digits, spaces allowed) rather than a
/// recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

/// The time step (`unix / 30`) within ±1 of `now` whose code is `code`, if any. Every
/// candidate is compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> anyhow::Result<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let totp = totp(secret, "x", "x")?;
    let current = now / STEP;
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        if secrets::constant_time_eq(&totp.generate(step * STEP), &code) && found.is_none() {
            found = Some(step as i64);
        }
    }
    Ok(found)
}

/// Ten new recovery codes, as shown to the user (`xxxxx-xxxxx`, 50 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // no 0/o, 1/l/i
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// The stored form of a recovery code: SHA-256 of it without separators, lower case.
pub fn recovery_code_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secrets::hash_secret(&normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_one_step_either_side_only() {
        let secret = new_secret();
        assert_eq!(secret.len(), 20);
        let totp = totp(&secret, "Acme", "alice@example.com").unwrap();
        let now = 1_800_000_015;
        let step = (now / STEP) as i64;
        let code = |s: i64| totp.generate(s as u64 * STEP);
        assert_eq!(
            matching_step(&secret, &code(step), now).unwrap(),
            Some(step)
        );
        assert_eq!(
            matching_step(&secret, &code(step - 1), now).unwrap(),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&secret, &code(step + 1), now).unwrap(),
            Some(step + 1)
        );
        let far = code(step - 2);
        if far != code(step - 1) && far != code(step) && far != code(step + 1) {
            assert_eq!(matching_step(&secret, &far, now).unwrap(), None);
        }
        let spaced = format!("{} {}", &code(step)[..3], &code(step)[3..]);
        assert_eq!(matching_step(&secret, &spaced, now).unwrap(), Some(step));
    }

    #[test]
    fn enrolment_carries_uri_qr_and_key() {
        let secret = new_secret();
        let enrolment = enrolment(&secret, "Acme: Corp", "alice@example.com").unwrap();
        assert!(enrolment.uri.starts_with("otpauth://totp/"));
        assert!(enrolment.uri.contains("secret="));
        assert!(enrolment.qr_svg.starts_with("<svg"));
        assert_eq!(enrolment.manual_key.replace(' ', "").len(), 32);
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(
            recovery_code_hash(&codes[0]),
            recovery_code_hash(&codes[0].to_uppercase().replace('-', " "))
        );
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code(&codes[0]));
    }
}
