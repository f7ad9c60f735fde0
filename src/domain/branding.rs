//! A tenant's company branding (Entra's `organizationalBranding`, reduced to what every page
//! and mail shows): an accent colour for buttons and a banner logo, uploaded to and served
//! from Gatehouse (no third-party asset ever reaches a page).
//!
//! The rules, parsed not validated: the accent is `#rrggbb`, and the text on it is whichever
//! of white or near-black reads better (WCAG 2.x contrast); a logo is a PNG or JPEG image, at
//! most [`MAX_LOGO_BYTES`] and [`MAX_LOGO_SIDE`] pixels a side, recognised by its content,
//! never by what the uploader claims.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Invalid;

/// Largest logo accepted (Entra's banner logo limit is 36 KB; a little room for PNGs).
pub const MAX_LOGO_BYTES: usize = 100 * 1024;
/// Largest width or height of a logo, in pixels.
pub const MAX_LOGO_SIDE: usize = 1024;

/// What the tenant chose to look like.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// Accent colour of buttons, `#rrggbb` (lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// The uploaded logo's description (its bytes are stored apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<Logo>,
}

/// An uploaded logo, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Logo {
    /// `image/png` or `image/jpeg`.
    pub content_type: String,
    /// Hex SHA-256 of the bytes (the cache validator).
    pub sha256: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Branding {
    /// A short token that changes whenever the branding does (cache-busting URLs).
    pub fn version(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.accent_color.as_deref().unwrap_or(""));
        hasher.update(b"/");
        hasher.update(self.logo.as_ref().map_or("", |l| l.sha256.as_str()));
        hex(&hasher.finalize()[..6])
    }

    /// The stylesheet that applies the accent colour, if one is set.
    pub fn theme_css(&self) -> Option<String> {
        let accent = self.accent_color.as_deref()?;
        let on_accent = text_on(accent);
        // Links keep the default colours unless the accent itself reads well on white.
        let link = if contrast(accent, "#ffffff") >= 4.5 {
            format!("--link: {accent}; ")
        } else {
            String::new()
        };
        Some(format!(
            "/* The tenant's accent colour (company branding). */\n\
             :root {{ --accent: {accent}; --on-accent: {on_accent}; {link}}}\n\
             @media (prefers-color-scheme: dark) {{ :root {{ --accent: {accent}; --on-accent: {on_accent}; }} }}\n"
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an accent colour: `#rrggbb` (or `rrggbb`), any case.
pub fn parse_accent(raw: &str) -> Result<String, Invalid> {
    let digits = raw.trim().trim_start_matches('#');
    if digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Invalid(format!(
            "accentColor must be a colour like #0b5cad, not {raw:?}"
        )));
    }
    Ok(format!("#{}", digits.to_ascii_lowercase()))
}

/// Relative luminance of `#rrggbb` (WCAG 2.x).
fn luminance(colour: &str) -> f64 {
    let channel = |i: usize| {
        let value = u8::from_str_radix(colour.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
        let c = f64::from(value) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

/// WCAG contrast ratio of two `#rrggbb` colours (1 to 21).
pub fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The text colour for buttons on `accent`: white or near-black, whichever contrasts more.
pub fn text_on(accent: &str) -> &'static str {
    if contrast(accent, "#ffffff") >= contrast(accent, "#111111") {
        "#ffffff"
    } else {
        "#111111"
    }
}

/// Checks an uploaded logo by its content: a PNG or JPEG within the size limits.
pub fn check_logo(bytes: &[u8]) -> Result<Logo, Invalid> {
    if bytes.is_empty() {
        return Err(Invalid("the logo is empty".into()));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(Invalid(format!(
            "the logo is {} bytes; at most {MAX_LOGO_BYTES} are accepted",
            bytes.len()
        )));
    }
    let content_type = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => "image/png",
        Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
        _ => return Err(Invalid("the logo must be a PNG or JPEG image".into())),
    };
    let size = imagesize::blob_size(bytes)
        .map_err(|_| Invalid("the logo's image data cannot be read".into()))?;
    if size.width == 0 || size.height == 0 {
        return Err(Invalid("the logo has no pixels".into()));
    }
    if size.width > MAX_LOGO_SIDE || size.height > MAX_LOGO_SIDE {
        return Err(Invalid(format!(
            "the logo is {}×{} pixels; at most {MAX_LOGO_SIDE} a side are accepted",
            size.width, size.height
        )));
    }
    Ok(Logo {
        content_type: content_type.to_owned(),
        sha256: hex(&Sha256::digest(bytes)),
        width: size.width,
        height: size.height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2×1 PNG.
    fn png() -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend_from_slice(&2u32.to_be_bytes());
        png.extend_from_slice(&1u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        png
    }

    #[test]
    fn accents_are_hex_colours() {
        assert_eq!(parse_accent("#0B5CAD").unwrap(), "#0b5cad");
        assert_eq!(parse_accent("0b5cad").unwrap(), "#0b5cad");
        for bad in ["red", "#fff", "#0b5cadd", "#0b5caz", "", "#0b5cad;}body{"] {
            assert!(parse_accent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_text_on_an_accent_is_readable() {
        assert_eq!(text_on("#0b5cad"), "#ffffff");
        assert_eq!(text_on("#ffd700"), "#111111");
        for accent in ["#0b5cad", "#ffd700", "#808080", "#ff0000", "#00ff00"] {
            assert!(
                contrast(accent, text_on(accent)) >= 4.5
                    || accent == "#808080"
                    || accent == "#ff0000",
                "{accent}"
            );
            assert!(contrast(accent, text_on(accent)) >= 3.0, "{accent}");
        }
        assert!((contrast("#ffffff", "#000000") - 21.0).abs() < 0.01);
    }

    #[test]
    fn logos_are_recognised_by_content_and_size_checked() {
        let logo = check_logo(&png()).unwrap();
        assert_eq!(
            (logo.content_type.as_str(), logo.width, logo.height),
            ("image/png", 2, 1)
        );
        assert!(check_logo(b"<svg xmlns='http://www.w3.org/2000/svg'/>").is_err());
        assert!(check_logo(b"GIF89a....").is_err());
        assert!(check_logo(&[]).is_err());
        let mut huge = png();
        huge.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(check_logo(&huge).is_err());
        let mut wide = png();
        wide[16..20].copy_from_slice(&5000u32.to_be_bytes());
        assert!(check_logo(&wide).is_err());
    }

    #[test]
    fn the_version_changes_with_the_branding() {
        let plain = Branding::default();
        let accented = Branding {
            accent_color: Some("#0b5cad".into()),
            logo: None,
        };
        assert_ne!(plain.version(), accented.version());
        assert!(plain.theme_css().is_none());
        let css = accented.theme_css().unwrap();
        assert!(css.contains("--accent: #0b5cad") && css.contains("--on-accent: #ffffff"));
    }
}
