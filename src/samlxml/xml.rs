//! Input hygiene for SAML messages and the small XML writer our own messages are built with.
//!
//! Incoming: size caps before and after inflation (inflate bombs), base64 with or without
//! line breaks, UTF-8, and any DOCTYPE or ENTITY declaration refused before an XML parser
//! sees the document (SECURITY.md part c). Outgoing: quick-xml escapes every attribute value
//! and text node, and characters XML 1.0 cannot carry at all are dropped from user-controlled
//! strings, so a display name can never change the structure of an assertion (I.5).

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Largest base64 message accepted.
pub const MAX_ENCODED: usize = 64 * 1024;
/// Largest XML document accepted after decoding and inflation.
pub const MAX_XML: usize = 128 * 1024;

/// Why an incoming SAML message was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Larger than the caps.
    #[error("the SAML message is too large")]
    TooLarge,
    /// Not base64, not deflate, or not UTF-8.
    #[error("the SAML message is not correctly encoded")]
    Encoding,
    /// It declares a DOCTYPE or entities.
    #[error("the SAML message declares a DOCTYPE or entities, which are never accepted")]
    Doctype,
}

fn base64_decode(encoded: &str) -> Result<Vec<u8>, InputError> {
    if encoded.len() > MAX_ENCODED {
        return Err(InputError::TooLarge);
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(compact).map_err(|_| InputError::Encoding)
}

/// Decodes an HTTP-Redirect binding message: base64, then raw DEFLATE (SAML Bindings §3.4.4.1),
/// inflating at most [`MAX_XML`] bytes.
pub fn decode_redirect(encoded: &str) -> Result<String, InputError> {
    let compressed = base64_decode(encoded)?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&compressed[..])
        .take(MAX_XML as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| InputError::Encoding)?;
    if inflated.len() > MAX_XML {
        return Err(InputError::TooLarge);
    }
    checked_text(inflated)
}

/// Decodes an HTTP-POST binding message: base64 only.
pub fn decode_post(encoded: &str) -> Result<String, InputError> {
    let raw = base64_decode(encoded)?;
    if raw.len() > MAX_XML {
        return Err(InputError::TooLarge);
    }
    checked_text(raw)
}

fn checked_text(bytes: Vec<u8>) -> Result<String, InputError> {
    let text = String::from_utf8(bytes).map_err(|_| InputError::Encoding)?;
    refuse_doctype(&text)?;
    Ok(text)
}

/// Refuses documents that declare a DOCTYPE or entities (XXE, billion laughs).
pub fn refuse_doctype(xml: &str) -> Result<(), InputError> {
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err(InputError::Doctype);
    }
    Ok(())
}

/// Deflates and base64-encodes a message for the HTTP-Redirect binding.
pub fn encode_redirect(xml: &str) -> String {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(xml.as_bytes());
    STANDARD.encode(encoder.finish().unwrap_or_default())
}

/// Drops characters XML 1.0 cannot represent even escaped (control characters other than
/// tab, line feed and carriage return; U+FFFE and U+FFFF).
pub fn xml_safe(text: &str) -> String {
    text.chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r')
                || (!c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        })
        .collect()
}

/// A compact XML writer: every attribute value and text node is escaped.
pub struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl Default for XmlOut {
    fn default() -> Self {
        Self {
            writer: Writer::new(Vec::new()),
        }
    }
}

impl XmlOut {
    /// Starts a document with an XML declaration.
    pub fn document() -> Self {
        let mut out = Self::default();
        out.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        out
    }

    fn event(&mut self, event: Event<'_>) {
        // Writing into a Vec<u8> cannot fail.
        let _ = self.writer.write_event(event);
    }

    /// Opens an element with attributes (values are escaped).
    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            start.push_attribute((*key, xml_safe(value).as_str()));
        }
        self.event(Event::Start(start));
        self
    }

    /// Writes an empty element.
    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            start.push_attribute((*key, xml_safe(value).as_str()));
        }
        self.event(Event::Empty(start));
        self
    }

    /// Writes escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.event(Event::Text(BytesText::new(&xml_safe(text))));
        self
    }

    /// Writes an element holding only text.
    pub fn leaf(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attributes).text(text).close(name)
    }

    /// Closes an element.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.event(Event::End(BytesEnd::new(name)));
        self
    }

    /// Inserts an already serialised, trusted fragment (a signed element we produced).
    pub fn raw(&mut self, fragment: &str) -> &mut Self {
        self.event(Event::Text(BytesText::from_escaped(fragment)));
        self
    }

    /// The document text.
    pub fn finish(self) -> String {
        String::from_utf8(self.writer.into_inner()).unwrap_or_default()
    }
}

/// Strips a leading `<?xml …?>` declaration (to embed a signed document in another).
pub fn without_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map_or(trimmed, |end| rest[end + 2..].trim_start()),
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_messages_round_trip_and_bombs_are_capped() {
        let xml = "<samlp:AuthnRequest ID=\"_1\"/>";
        assert_eq!(decode_redirect(&encode_redirect(xml)).unwrap(), xml);
        let bomb = encode_redirect(&"A".repeat(MAX_XML * 8));
        assert!(
            bomb.len() < MAX_ENCODED,
            "a small message that inflates hugely"
        );
        assert_eq!(decode_redirect(&bomb), Err(InputError::TooLarge));
        assert_eq!(
            decode_post(&"A".repeat(MAX_ENCODED + 4)),
            Err(InputError::TooLarge)
        );
        assert_eq!(decode_post("!!!"), Err(InputError::Encoding));
    }

    #[test]
    fn doctypes_and_entities_are_refused_before_parsing() {
        for xml in [
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>",
            "<?xml version=\"1.0\"?><!doctype x><x/>",
            "<x><!ENTITY y SYSTEM \"file:///etc/passwd\"></x>",
        ] {
            assert_eq!(decode_post(&STANDARD.encode(xml)), Err(InputError::Doctype));
        }
    }

    #[test]
    fn markup_in_user_text_is_escaped_and_control_characters_dropped() {
        let mut out = XmlOut::default();
        out.leaf("a", &[("n", "x\"><b>")], "<script>]]><!--\u{1}\u{7}ok");
        let xml = out.finish();
        assert_eq!(
            xml,
            "<a n=\"x&quot;&gt;&lt;b&gt;\">&lt;script&gt;]]&gt;&lt;!--ok</a>"
        );
    }

    #[test]
    fn declarations_are_stripped_for_embedding() {
        assert_eq!(without_declaration("<?xml version=\"1.0\"?>\n<a/>"), "<a/>");
        assert_eq!(without_declaration("<a/>"), "<a/>");
    }
}
