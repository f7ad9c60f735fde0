//! The SAML 2.0 schemas as the strict reader needs them: the namespaces, the elements the
//! protocol and assertion schemas define, where their content is open to other namespaces,
//! which elements hold text only, and the attribute names SAML itself defines.

/// SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(super) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(super) const NS_DSIG11: &str = "http://www.w3.org/2009/xmldsig11#";
pub(super) const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub(super) const NS_XENC11: &str = "http://www.w3.org/2009/xmlenc11#";
pub(super) const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub(super) const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// The elements saml-schema-protocol-2.0.xsd defines.
pub(super) const PROTOCOL_ELEMENTS: [&str; 32] = [
    "Extensions",
    "Status",
    "StatusCode",
    "StatusMessage",
    "StatusDetail",
    "AssertionIDRequest",
    "SubjectQuery",
    "AuthnQuery",
    "RequestedAuthnContext",
    "AttributeQuery",
    "AuthzDecisionQuery",
    "AuthnRequest",
    "NameIDPolicy",
    "Scoping",
    "IDPList",
    "IDPEntry",
    "GetComplete",
    "RequesterID",
    "Response",
    "ArtifactResolve",
    "Artifact",
    "ArtifactResponse",
    "ManageNameIDRequest",
    "NewID",
    "NewEncryptedID",
    "Terminate",
    "ManageNameIDResponse",
    "LogoutRequest",
    "SessionIndex",
    "LogoutResponse",
    "NameIDMappingRequest",
    "NameIDMappingResponse",
];

/// The elements saml-schema-assertion-2.0.xsd defines.
pub(super) const ASSERTION_ELEMENTS: [&str; 33] = [
    "BaseID",
    "NameID",
    "EncryptedID",
    "Issuer",
    "AssertionIDRef",
    "AssertionURIRef",
    "Assertion",
    "EncryptedAssertion",
    "Subject",
    "SubjectConfirmation",
    "SubjectConfirmationData",
    "Conditions",
    "Condition",
    "AudienceRestriction",
    "Audience",
    "OneTimeUse",
    "ProxyRestriction",
    "Advice",
    "Statement",
    "AuthnStatement",
    "SubjectLocality",
    "AuthnContext",
    "AuthnContextClassRef",
    "AuthnContextDeclRef",
    "AuthnContextDecl",
    "AuthenticatingAuthority",
    "AttributeStatement",
    "Attribute",
    "AttributeValue",
    "EncryptedAttribute",
    "AuthzDecisionStatement",
    "Action",
    "Evidence",
];

/// SAML elements whose content the schemas leave open (`xs:any`, `anyType`, or an abstract
/// type extended by `xsi:type`): what is inside them is not checked here.
pub(super) const OPEN_CONTENT: [(&str, &str); 8] = [
    (NS_PROTOCOL, "Extensions"),
    (NS_PROTOCOL, "StatusDetail"),
    (NS_ASSERTION, "AttributeValue"),
    (NS_ASSERTION, "SubjectConfirmationData"),
    (NS_ASSERTION, "Advice"),
    (NS_ASSERTION, "AuthnContextDecl"),
    (NS_ASSERTION, "Condition"),
    (NS_ASSERTION, "Statement"),
];

/// SAML elements of simple content (text only).
pub(super) const TEXT_ONLY: [&str; 12] = [
    "Issuer",
    "NameID",
    "Audience",
    "AuthnContextClassRef",
    "AuthnContextDeclRef",
    "AuthenticatingAuthority",
    "AssertionIDRef",
    "AssertionURIRef",
    "StatusMessage",
    "SessionIndex",
    "RequesterID",
    "NewID",
];

/// SAML elements that may carry attributes of other namespaces (`anyAttribute`).
pub(super) const FOREIGN_ATTRIBUTES_ALLOWED: [&str; 2] = ["Attribute", "SubjectConfirmationData"];

/// The unqualified attributes the SAML schemas define: a qualified attribute may never use
/// one of these local names (samael would read it as the SAML one).
pub(super) const SAML_ATTRIBUTES: [&str; 30] = [
    "ID",
    "Version",
    "IssueInstant",
    "Destination",
    "Consent",
    "InResponseTo",
    "ForceAuthn",
    "IsPassive",
    "ProtocolBinding",
    "AssertionConsumerServiceIndex",
    "AssertionConsumerServiceURL",
    "AttributeConsumingServiceIndex",
    "ProviderName",
    "Format",
    "SPNameQualifier",
    "NameQualifier",
    "SPProvidedID",
    "AllowCreate",
    "Value",
    "Name",
    "NameFormat",
    "FriendlyName",
    "Method",
    "NotBefore",
    "NotOnOrAfter",
    "Recipient",
    "Address",
    "AuthnInstant",
    "SessionIndex",
    "Reason",
];
