//! Strict, namespace-aware reading of incoming SAML messages, before samael's serde reader
//! (which matches names by their local part and stops after the first element) or xmlsec
//! see them (SECURITY.md part c; "XML is parsed strictly and namespace-aware").
//!
//! A message passes only when it is one well-formed XML document (quick-xml's namespace
//! reader: end tags match, attributes are unique, every prefix is bound, references are
//! predefined or characters XML allows) with exactly one root element, the protocol element
//! expected (`samlp:AuthnRequest`, `samlp:LogoutRequest`, `samlp:Response`), and nothing but
//! whitespace before or after it: no second root, no trailing text or markup, no comment, no
//! processing instruction, no DOCTYPE. Every element is checked by namespace *and* name: an
//! element in the SAML protocol or assertion namespace must be one those schemas define
//! there, and no element of another namespace (or of none) may appear except where the
//! schemas leave the content open — inside `samlp:Extensions`, `samlp:StatusDetail`,
//! `saml:AttributeValue`, `saml:SubjectConfirmationData`, `saml:Advice`,
//! `saml:AuthnContextDecl`, `saml:Condition`, `saml:Statement`, and the XML-DSig and
//! XML-Encryption subtrees (which xmlsec, not this reader, judges). Elements of simple
//! content (`Issuer`, `NameID`, `Audience`, …) hold text only. Attributes of checked
//! elements are unqualified, `xml:`, `xmlns` or `xsi:` ones — other namespaces only where the
//! schema allows (`saml:Attribute`, `saml:SubjectConfirmationData`) and never under the local
//! name of a SAML attribute, since samael reads attributes by local name too.
//!
//! A refusal carries the [`Outline`] read before the fault — the root's attributes and the
//! text of the root's leading `saml:Issuer` — so that an IdP can still answer a known SP at a
//! registered ACS with a `Requester` status, without trusting anything the fault could hide.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

mod schema;

use schema::{
    ASSERTION_ELEMENTS, FOREIGN_ATTRIBUTES_ALLOWED, NS_DSIG, NS_DSIG11, NS_XENC, NS_XENC11, NS_XML,
    NS_XSI, OPEN_CONTENT, PROTOCOL_ELEMENTS, SAML_ATTRIBUTES, TEXT_ONLY,
};
pub use schema::{NS_ASSERTION, NS_PROTOCOL};

/// The protocol element a message must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `samlp:AuthnRequest`.
    AuthnRequest,
    /// `samlp:LogoutRequest`.
    LogoutRequest,
    /// `samlp:LogoutResponse`.
    LogoutResponse,
    /// `samlp:Response`.
    Response,
}

impl Root {
    fn local_name(self) -> &'static str {
        match self {
            Self::AuthnRequest => "AuthnRequest",
            Self::LogoutRequest => "LogoutRequest",
            Self::LogoutResponse => "LogoutResponse",
            Self::Response => "Response",
        }
    }
}

/// What was read of a message before a fault (or of all of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// The root element is the expected protocol element.
    pub root_ok: bool,
    /// The root's unqualified attributes, unescaped (only when `root_ok`).
    pub root_attributes: Vec<(String, String)>,
    /// The text of a `saml:Issuer` that is the root's first child, once it was closed.
    pub issuer: Option<String>,
}

impl Outline {
    /// An unqualified attribute of the root.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.root_attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Why a message is not strictly a SAML message of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SAML message is not well-formed SAML: {reason}")]
pub struct Malformed {
    /// What is wrong (English, for logs and the SP's owner).
    pub reason: String,
    /// What was read before the fault.
    pub outline: Outline,
}

/// Whether `c` is an XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// The namespace of a resolved name, or why it has none we accept.
fn namespace(resolved: &ResolveResult<'_>) -> Result<Option<String>, String> {
    match resolved {
        ResolveResult::Bound(Namespace(ns)) => Ok(Some(String::from_utf8_lossy(ns).into_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(format!(
            "the prefix {:?} is not bound to a namespace",
            String::from_utf8_lossy(prefix)
        )),
    }
}

/// The reader's state.
struct Scan<'x> {
    reader: NsReader<&'x [u8]>,
    outline: Outline,
    expected: Root,
    /// Open elements: (namespace, local name).
    stack: Vec<(Option<String>, String)>,
    /// Depth (stack length) at which open content began.
    open_from: Option<usize>,
    root_seen: bool,
    root_closed: bool,
    events: usize,
    /// Children of the root seen so far.
    root_children: usize,
    /// Text of the root's leading Issuer while it is open.
    issuer_text: Option<String>,
}

impl<'x> Scan<'x> {
    fn fail(&self, reason: impl Into<String>) -> Malformed {
        // Names in the reason come from the document: keep it short.
        let mut reason: String = reason.into();
        if reason.chars().count() > 300 {
            reason = reason.chars().take(300).collect::<String>() + "…";
        }
        Malformed {
            reason,
            outline: self.outline.clone(),
        }
    }

    fn in_open_content(&self) -> bool {
        self.open_from.is_some()
    }

    /// Checks an element's name and attributes; returns its (namespace, local name).
    fn element(&mut self, start: &BytesStart<'_>) -> Result<(Option<String>, String), Malformed> {
        let (resolved, local) = self.reader.resolver().resolve_element(start.name());
        let ns = namespace(&resolved).map_err(|e| self.fail(e))?;
        let local = String::from_utf8_lossy(local.as_ref()).into_owned();
        if !self.root_seen {
            self.root_seen = true;
            if ns.as_deref() != Some(NS_PROTOCOL) || local != self.expected.local_name() {
                return Err(self.fail(format!(
                    "the root element is {{{}}}{local}, not samlp:{}",
                    ns.as_deref().unwrap_or(""),
                    self.expected.local_name()
                )));
            }
            self.outline.root_ok = true;
        } else if self.root_closed {
            return Err(self.fail("there is a second root element"));
        } else if !self.in_open_content() {
            if let Some((parent_ns, parent)) = self.stack.last()
                && parent_ns.as_deref() == Some(NS_ASSERTION)
                && TEXT_ONLY.contains(&parent.as_str())
            {
                return Err(self.fail(format!("saml:{parent} holds an element")));
            }
            if let Some((parent_ns, parent)) = self.stack.last()
                && parent_ns.as_deref() == Some(NS_PROTOCOL)
                && TEXT_ONLY.contains(&parent.as_str())
            {
                return Err(self.fail(format!("samlp:{parent} holds an element")));
            }
            let known = match ns.as_deref() {
                Some(NS_PROTOCOL) => PROTOCOL_ELEMENTS.contains(&local.as_str()),
                Some(NS_ASSERTION) => ASSERTION_ELEMENTS.contains(&local.as_str()),
                Some(NS_DSIG | NS_XENC) => true,
                _ => false,
            };
            if !known {
                return Err(self.fail(format!(
                    "the element {{{}}}{local} is not a SAML element where it stands",
                    ns.as_deref().unwrap_or("")
                )));
            }
        }
        let signature_like = matches!(
            ns.as_deref(),
            Some(NS_DSIG | NS_DSIG11 | NS_XENC | NS_XENC11)
        );
        if !self.in_open_content() && !signature_like {
            self.attributes(start, &local)?;
        }
        Ok((ns, local))
    }

    /// Checks the attributes of a SAML element (and keeps the root's).
    fn attributes(&mut self, start: &BytesStart<'_>, element: &str) -> Result<(), Malformed> {
        let mut names: Vec<String> = Vec::new();
        let is_root = self.stack.is_empty();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| self.fail(format!("attribute: {e}")))?;
            let key = attribute.key;
            if key.as_namespace_binding().is_some() {
                continue;
            }
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.fail(format!("attribute value: {e}")))?;
            if !value.chars().all(is_xml_char) {
                return Err(self.fail("an attribute holds a character XML does not allow"));
            }
            let (resolved, local) = self.reader.resolver().resolve_attribute(key);
            let ns = namespace(&resolved).map_err(|e| self.fail(e))?;
            let local = String::from_utf8_lossy(local.as_ref()).into_owned();
            match ns.as_deref() {
                None => {}
                Some(NS_XML | NS_XSI) => {}
                Some(_)
                    if FOREIGN_ATTRIBUTES_ALLOWED.contains(&element)
                        && !SAML_ATTRIBUTES.contains(&local.as_str()) => {}
                Some(other) => {
                    return Err(self.fail(format!(
                        "the attribute {{{other}}}{local} is not allowed on {element}"
                    )));
                }
            }
            if names.contains(&local) {
                return Err(self.fail(format!(
                    "{element} has two attributes named {local} (in different namespaces)"
                )));
            }
            names.push(local.clone());
            if is_root && ns.is_none() {
                self.outline
                    .root_attributes
                    .push((local, value.into_owned()));
            }
        }
        Ok(())
    }

    /// Text (or a reference, or CDATA) at the current position.
    fn text(&mut self, text: &str) -> Result<(), Malformed> {
        if !text.chars().all(is_xml_char) {
            return Err(self.fail("the text holds a character XML does not allow"));
        }
        if self.stack.is_empty() {
            if text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                return Ok(());
            }
            return Err(self.fail(if self.root_closed {
                "there is text after the root element"
            } else {
                "there is text before the root element"
            }));
        }
        if let Some(issuer) = &mut self.issuer_text {
            issuer.push_str(text);
        }
        Ok(())
    }

    fn run(mut self) -> Result<Outline, Malformed> {
        loop {
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(self.fail(format!("not well-formed XML: {e}"))),
            };
            self.events += 1;
            match event {
                Event::Decl(_) if self.events == 1 => {}
                Event::Decl(_) => {
                    return Err(self.fail("an XML declaration that is not at the start"));
                }
                Event::DocType(_) => return Err(self.fail("a DOCTYPE")),
                Event::PI(_) => return Err(self.fail("a processing instruction")),
                Event::Comment(_) => return Err(self.fail("a comment")),
                Event::Start(start) => {
                    let (ns, local) = self.element(&start)?;
                    self.opened(ns, local);
                }
                Event::Empty(start) => {
                    let (ns, local) = self.element(&start)?;
                    self.opened(ns, local);
                    self.closed();
                }
                Event::End(_) => {
                    if self.stack.is_empty() {
                        return Err(self.fail("an end tag without its start"));
                    }
                    self.closed();
                }
                Event::Text(text) => {
                    let text = text
                        .xml10_content()
                        .map_err(|e| self.fail(format!("text: {e}")))?
                        .into_owned();
                    self.text(&text)?;
                }
                Event::CData(data) => {
                    if self.stack.is_empty() {
                        return Err(self.fail("CDATA outside the root element"));
                    }
                    let text = data
                        .xml10_content()
                        .map_err(|e| self.fail(format!("CDATA: {e}")))?
                        .into_owned();
                    self.text(&text)?;
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = reference
                                .decode()
                                .map_err(|e| self.fail(format!("reference: {e}")))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| {
                                    self.fail(format!("the entity &{name}; is not defined"))
                                })?
                                .to_owned()
                        }
                        Err(e) => return Err(self.fail(format!("character reference: {e}"))),
                    };
                    if self.stack.is_empty() {
                        return Err(self.fail("a reference outside the root element"));
                    }
                    self.text(&resolved)?;
                }
                Event::Eof => break,
            }
        }
        if !self.root_seen {
            return Err(self.fail("there is no root element"));
        }
        if !self.root_closed {
            return Err(self.fail("the document ends inside an element"));
        }
        Ok(self.outline)
    }

    fn opened(&mut self, ns: Option<String>, local: String) {
        let depth = self.stack.len();
        if depth == 1 {
            self.root_children += 1;
            if self.root_children == 1 && ns.as_deref() == Some(NS_ASSERTION) && local == "Issuer" {
                self.issuer_text = Some(String::new());
            }
        }
        if self.open_from.is_none() {
            let signature_like = matches!(
                ns.as_deref(),
                Some(NS_DSIG | NS_DSIG11 | NS_XENC | NS_XENC11)
            );
            let open = OPEN_CONTENT.iter().any(|(open_ns, open_local)| {
                ns.as_deref() == Some(*open_ns) && local == *open_local
            });
            if signature_like || open {
                self.open_from = Some(depth + 1);
            }
        }
        self.stack.push((ns, local));
    }

    fn closed(&mut self) {
        let depth = self.stack.len();
        if self.open_from == Some(depth) {
            self.open_from = None;
        }
        self.stack.pop();
        if depth == 2
            && let Some(issuer) = self.issuer_text.take()
        {
            self.outline.issuer = Some(issuer.trim().to_owned());
        }
        if self.stack.is_empty() {
            self.root_closed = true;
        }
    }
}

/// Reads `xml` strictly as a SAML message whose root must be `root`; returns what was read,
/// or why it is refused (see the module documentation).
pub fn check(xml: &str, root: Root) -> Result<Outline, Malformed> {
    let xml = xml.strip_prefix('\u{FEFF}').unwrap_or(xml);
    let scan = Scan {
        reader: NsReader::from_reader(xml.as_bytes()),
        outline: Outline::default(),
        expected: root,
        stack: Vec::new(),
        open_from: None,
        root_seen: false,
        root_closed: false,
        events: 0,
        root_children: 0,
        issuer_text: None,
    };
    if !xml.chars().all(is_xml_char) {
        return Err(scan.fail("the message holds a character XML does not allow"));
    }
    scan.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" AssertionConsumerServiceURL="https://sp.example/acs?a=1&amp;b=2"><saml:Issuer> https://sp.example/metadata </saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/></samlp:AuthnRequest>
"#;

    fn refused(xml: &str) -> Malformed {
        check(xml, Root::AuthnRequest).expect_err(xml)
    }

    #[test]
    fn a_plain_request_passes_and_its_outline_is_read() {
        let outline = check(REQUEST, Root::AuthnRequest).unwrap();
        assert!(outline.root_ok);
        assert_eq!(
            outline.issuer.as_deref(),
            Some("https://sp.example/metadata")
        );
        assert_eq!(outline.attribute("ID"), Some("_1"));
        assert_eq!(
            outline.attribute("AssertionConsumerServiceURL"),
            Some("https://sp.example/acs?a=1&b=2")
        );
        // A default namespace, a BOM, CDATA and references are all well-formed.
        let default_ns = "\u{FEFF}<AuthnRequest xmlns=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_2\"><Issuer xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\"><![CDATA[https://sp.example/]]>&#109;</Issuer></AuthnRequest>";
        let outline = check(default_ns, Root::AuthnRequest).unwrap();
        assert_eq!(outline.issuer.as_deref(), Some("https://sp.example/m"));
        assert!(check(REQUEST, Root::LogoutRequest).is_err());
    }

    #[test]
    fn anything_outside_the_one_root_is_refused_with_the_outline_read_so_far() {
        let second_root = format!(
            "{}<samlp:AuthnRequest xmlns:samlp=\"{NS_PROTOCOL}\"/>",
            REQUEST.trim_end()
        );
        let garbage = format!("{}garbage", REQUEST.trim_end());
        let markup = format!("{}<x/>", REQUEST.trim_end());
        let comment_after = format!("{}<!-- x -->", REQUEST.trim_end());
        for (xml, expected) in [
            (second_root.as_str(), "second root"),
            (garbage.as_str(), "text after the root"),
            (markup.as_str(), "second root"),
            (comment_after.as_str(), "comment"),
        ] {
            let error = refused(xml);
            assert!(
                error.reason.contains(expected),
                "{expected}: {}",
                error.reason
            );
            assert!(error.outline.root_ok);
            assert_eq!(
                error.outline.issuer.as_deref(),
                Some("https://sp.example/metadata")
            );
        }
        assert!(
            refused(&format!("x{REQUEST}"))
                .reason
                .contains("text before")
        );
        assert!(refused("").reason.contains("no root"));
        let crossed = REQUEST.replace("</saml:Issuer>", "</saml:Audience>");
        assert!(refused(&crossed).reason.contains("not well-formed XML"));
        assert!(
            refused("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">")
                .reason
                .contains("ends inside")
        );
    }

    #[test]
    fn names_are_matched_with_their_namespace() {
        let foreign_root = REQUEST
            .replace("<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"", "<evil:AuthnRequest xmlns:evil=\"urn:evil\" xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"")
            .replace("</samlp:AuthnRequest>", "</evil:AuthnRequest>");
        let error = refused(&foreign_root);
        assert!(
            !error.outline.root_ok && error.outline.issuer.is_none(),
            "{error:?}"
        );
        let foreign_issuer = REQUEST.replace(
            "<saml:Issuer> https://sp.example/metadata </saml:Issuer>",
            "<evil:Issuer xmlns:evil=\"urn:evil\">https://sp.example/metadata</evil:Issuer>",
        );
        let error = refused(&foreign_issuer);
        assert!(
            error.outline.root_ok && error.outline.issuer.is_none(),
            "{error:?}"
        );
        let protocol_issuer = REQUEST
            .replace("<saml:Issuer>", "<samlp:Issuer>")
            .replace("</saml:Issuer>", "</samlp:Issuer>");
        assert!(refused(&protocol_issuer).outline.issuer.is_none());
        let unprefixed = REQUEST.replace("<samlp:NameIDPolicy", "<NameIDPolicy xmlns=\"\"");
        assert!(refused(&unprefixed).reason.contains("NameIDPolicy"));
        let unbound = REQUEST
            .replace("<saml:Issuer>", "<x:Issuer>")
            .replace("</saml:Issuer>", "</x:Issuer>");
        assert!(refused(&unbound).reason.contains("not bound"));
        let shadowed_attribute =
            REQUEST.replace("ID=\"_1\"", "ID=\"_1\" xmlns:e=\"urn:evil\" e:ID=\"_2\"");
        assert!(refused(&shadowed_attribute).reason.contains("attribute"));
        let nested_issuer = REQUEST.replace(
            "<saml:Issuer> https://sp.example/metadata </saml:Issuer>",
            "<saml:Issuer><saml:Issuer>x</saml:Issuer></saml:Issuer>",
        );
        assert!(refused(&nested_issuer).reason.contains("holds an element"));
    }

    #[test]
    fn open_content_signatures_and_xsi_types_are_left_to_their_owners() {
        let response = format!(
            r##"<ns0:Response xmlns:ns0="{NS_PROTOCOL}" xmlns:ns1="{NS_ASSERTION}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="{NS_XSI}" ID="_r"><ns1:Issuer>https://idp.example</ns1:Issuer><ds:Signature xmlns:ds="{NS_DSIG}"><ds:SignedInfo><ds:Reference URI="#_r"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature><ns0:Extensions><my:Thing xmlns:my="urn:mine"/></ns0:Extensions><ns0:Status><ns0:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></ns0:Status><ns1:Assertion ID="_a"><ns1:AttributeStatement><ns1:Attribute Name="mail" xmlns:x500="urn:oasis:names:tc:SAML:2.0:profiles:attribute:X500" x500:Encoding="LDAP"><ns1:AttributeValue xsi:type="xs:string">a@b.example</ns1:AttributeValue></ns1:Attribute></ns1:AttributeStatement></ns1:Assertion></ns0:Response>"##
        );
        check(&response, Root::Response).unwrap();
        let spoofed_name = response.replace("x500:Encoding", "x500:Name");
        assert!(check(&spoofed_name, Root::Response).is_err());
        let processing = response.replace("<ns0:Status>", "<?evil?><ns0:Status>");
        assert!(check(&processing, Root::Response).is_err());
        let control = response.replace("a@b.example", "a@b.example&#1;");
        assert!(check(&control, Root::Response).is_err());
        let undefined = response.replace("a@b.example", "&evil;");
        assert!(check(&undefined, Root::Response).is_err());
    }
}
