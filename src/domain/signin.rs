//! What a sign-in carries, whatever protocol started it: the request each front door hands to
//! the sign-in service ([`ProtocolRequest`]: an OIDC authorization request, a SAML
//! AuthnRequest, an invitation being redeemed, a home-tenant sign-in, My Apps), what it
//! demands ([`Requirements`]), where the browser is ([`Step`]) and who signed in and how
//! ([`Evidence`]). Pure data and rules; the sign-in service keeps and moves them.

use serde::{Deserialize, Serialize};

use crate::domain::saml::NameIdFormat;
use crate::domain::scope::Scopes;
use crate::domain::user::User;
use crate::i18n::Text;

/// `acr` of a single-factor sign-in (REFEDS SFA profile).
pub const ACR_SFA: &str = "https://refeds.org/profile/sfa";
/// `acr` of a multi-factor sign-in (REFEDS MFA profile).
pub const ACR_MFA: &str = "https://refeds.org/profile/mfa";
/// The OpenID PAPE multi-factor policy, accepted in `acr_values` as asking for MFA.
pub const ACR_PAPE_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";
/// `amr` of a password (RFC 8176).
pub const AMR_PASSWORD: &str = "pwd";
/// `amr` of an e-mail passcode (it proves a mailbox, it is not a second factor).
pub const AMR_EMAIL: &str = "email";
/// The `idp` of guests who sign in with e-mail passcodes (Entra's value for OTP guests).
pub const IDP_MAIL: &str = "mail";
/// `amr` of a sign-in at a home identity provider.
pub const AMR_FEDERATED: &str = "fed";
/// `amr` of a TOTP code (RFC 8176).
pub const AMR_OTP: &str = "otp";
/// `amr` of a multi-factor sign-in (RFC 8176).
pub const AMR_MFA: &str = "mfa";

/// The request a protocol front door handed to the journey; it is answered by the same
/// protocol's back door.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ProtocolRequest {
    /// An OpenID Connect authorization request.
    Oidc(AuthorizeRequest),
    /// A SAML 2.0 AuthnRequest (or an IdP-initiated sign-in).
    Saml(SamlRequest),
    /// Redeeming an invitation.
    Redeem(RedeemRequest),
    /// Signing a guest in at their home tenant on this Gatehouse, for another tenant.
    Home(HomeRequest),
    /// Signing in to the tenant's My Apps page.
    Portal {
        /// Where to go afterwards (the My Apps or security-info page).
        return_url: String,
        /// The page needs a multi-factor session (changing sign-in methods).
        #[serde(default)]
        mfa: bool,
    },
}
/// What a request demands of the sign-in, whatever its protocol.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// The user must authenticate now even if a session exists (`prompt=login`).
    pub fresh_login: bool,
    /// The last authentication must be at most this many seconds old (`max_age`).
    pub max_age: Option<i64>,
    /// Only this user (object id) may be signed in (`id_token_hint`).
    pub expected_user: Option<String>,
    /// The user must be shown the consent page (`prompt=consent`).
    pub consent: bool,
    /// The e-mail address to start with (`login_hint`).
    pub login_hint: Option<String>,
    /// The user must not be asked anything (`prompt=none`, `IsPassive`).
    pub passive: bool,
    /// The sign-in must be multi-factor (requested `acr` / authentication context).
    pub mfa: bool,
}
impl ProtocolRequest {
    /// The client application's display name.
    pub fn app_name(&self) -> &str {
        match self {
            Self::Oidc(request) => &request.app_name,
            Self::Saml(request) => &request.app_name,
            Self::Redeem(request) => &request.org_name,
            Self::Home(request) => &request.resource_name,
            Self::Portal { .. } => "My Apps",
        }
    }

    /// What the request demands.
    pub fn requirements(&self) -> Requirements {
        match self {
            Self::Oidc(request) => request.requirements(),
            Self::Saml(request) => Requirements {
                fresh_login: request.force_authn,
                login_hint: request.login_hint.clone(),
                expected_user: request.expected_user.clone(),
                passive: request.is_passive,
                mfa: request.mfa,
                ..Requirements::default()
            },
            Self::Redeem(_) => Requirements {
                fresh_login: true,
                ..Requirements::default()
            },
            Self::Home(request) => request.requirements(),
            Self::Portal { mfa, .. } => Requirements {
                mfa: *mfa,
                ..Requirements::default()
            },
        }
    }

    /// The application signed in to (`client_id`); `None` for Gatehouse's own pages.
    pub fn app_id(&self) -> Option<&str> {
        match self {
            Self::Oidc(request) => Some(&request.client_id),
            Self::Saml(request) => Some(&request.client_id),
            Self::Redeem(_) | Self::Home(_) | Self::Portal { .. } => None,
        }
    }

    /// The protocol's name in the sign-in log.
    pub fn protocol(&self) -> &'static str {
        match self {
            Self::Oidc(_) => "oidc",
            Self::Saml(_) => "saml",
            Self::Redeem(_) => "redemption",
            Self::Home(_) => "home",
            Self::Portal { .. } => "portal",
        }
    }

    /// The languages the request asks the pages to speak (OIDC `ui_locales`; a redemption's
    /// invitation language).
    pub fn ui_locales(&self) -> Option<&str> {
        match self {
            Self::Oidc(request) => request.ui_locales.as_deref(),
            Self::Redeem(request) => request.language.as_deref(),
            Self::Home(request) => request.ui_locales.as_deref(),
            Self::Saml(_) | Self::Portal { .. } => None,
        }
    }

    /// Where the user may be sent when the journey ends (for the pages' CSP `form-action`).
    pub fn return_url(&self) -> &str {
        match self {
            Self::Oidc(request) => &request.redirect_uri,
            Self::Saml(request) => &request.acs,
            Self::Redeem(request) => &request.redirect_url,
            Self::Home(request) => &request.return_url,
            Self::Portal { return_url, .. } => return_url,
        }
    }
}
/// Who signed in and how: what the back doors turn into tokens or assertions.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The user.
    pub user: User,
    /// The browser session.
    pub session_id: String,
    /// Time of the last active authentication.
    pub auth_time: i64,
    /// Methods used (`amr`).
    pub amr: Vec<String>,
    /// Assurance level (`acr`).
    pub acr: String,
    /// Upstream identity provider, if any.
    pub idp: Option<String>,
}
impl Evidence {
    /// Whether the sign-in used more than one factor.
    pub fn is_multi_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}
/// Where the browser is in the journey.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Not yet looked at the browser's session: the request arrived by a cross-site POST,
    /// which carries no `SameSite=Lax` cookies; the first page load checks it.
    Pending,
    /// Asking for the e-mail address.
    Identify,
    /// Asking for the password of `email`.
    Password {
        /// The address being signed in.
        email: String,
    },
    /// Signed in as session `session_id`; asking for consent.
    Consent {
        /// The session that will be used.
        session_id: String,
    },
    /// A one-time passcode was mailed to `email` (guest sign-in).
    EmailCode {
        /// The address being signed in.
        email: String,
    },
    /// Redemption: showing who invited the user to what.
    Invited,
    /// Redemption: the guest chooses an offered identity provider or the passcode.
    ChooseIdp,
    /// Redemption: a passcode was mailed to the invited address.
    RedeemCode,
    /// Redemption: the mailbox is proven; offering to set a password.
    RedeemPassword,
    /// Redemption: asking for consent to share the profile.
    RedeemConsent {
        /// The password the guest chose (argon2id PHC string), if any.
        password_hash: Option<String>,
        /// The upstream identity, when the guest redeemed at a home identity provider.
        #[serde(default)]
        upstream: Option<Upstream>,
    },
    /// Waiting while the browser signs in at the guest's home tenant.
    AwayHome {
        /// The home tenant.
        home_tenant_id: String,
    },
    /// Waiting while the browser signs in at partner identity provider `partner_id`.
    AwayFederated {
        /// The partner IdP.
        partner_id: String,
    },
    /// Back from the home tenant with its proof.
    HomeReturned {
        /// What the home tenant established.
        proof: HomeProof,
    },
    /// Second factor: asking session `session_id`'s user for a TOTP or recovery code.
    Mfa {
        /// The session being stepped up.
        session_id: String,
    },
    /// A guest's first enrolment: a passcode was mailed to prove the invited mailbox.
    MfaMailbox {
        /// The session being stepped up.
        session_id: String,
    },
    /// Enrolment: showing a new authenticator secret and asking for a confirming code.
    MfaEnroll {
        /// The session being stepped up.
        session_id: String,
        /// The new secret, sealed with the master key.
        sealed_secret: String,
    },
    /// The journey ended on a page that only says where things stand (a redemption held for
    /// approval, or declined): shown by the GET after the POST, and again on reload.
    Outcome {
        /// Heading (a catalogue id).
        title: String,
        /// What to say.
        message: Text,
        /// HTTP status of the page.
        status: u16,
    },
    /// Enrolled: showing the recovery codes once.
    MfaRecovery {
        /// The (stepped-up) session.
        session_id: String,
        /// The codes, sealed with the master key.
        sealed_codes: String,
    },
}
/// An identity an upstream identity provider vouched for (a home tenant on this Gatehouse or a
/// partner IdP), with how this tenant counts the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// The upstream issuer (the `idp` of the guest's tokens).
    pub issuer: String,
    /// The subject there: the identity is (issuer, subject), never an address.
    pub subject: String,
    /// The address the upstream asserted as verified, if it did.
    pub verified_email: Option<String>,
    /// The address the upstream asserted, verified or not (shown to an administrator when a
    /// redemption is held for approval).
    #[serde(default)]
    pub asserted_email: Option<String>,
    /// How this tenant counts the sign-in (`amr`).
    pub amr: Vec<String>,
    /// And its `acr`.
    pub acr: String,
    /// When the user authenticated upstream, if it said.
    #[serde(default)]
    pub auth_time: Option<i64>,
}
impl Upstream {
    /// The authentication to record for a session from this upstream sign-in.
    pub fn authentication(&self) -> Authentication {
        Authentication {
            amr: self.amr.clone(),
            acr: self.acr.clone(),
            idp: Some(self.issuer.clone()),
            auth_time: self.auth_time,
        }
    }
}
/// A message for the next page of a transaction, with the status that page answers with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// What to say.
    pub text: Text,
    /// HTTP status of the page that says it.
    pub status: u16,
}

/// How the user just authenticated.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// Methods used (`amr`).
    pub amr: Vec<String>,
    /// Assurance level reached (`acr`).
    pub acr: String,
    /// Upstream identity provider, when the user authenticated elsewhere.
    pub idp: Option<String>,
    /// When the user authenticated, if not now (an upstream sign-in reports its own time).
    pub auth_time: Option<i64>,
}

/// A validated authorization request, carried through the journey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// Tenant.
    pub tenant_id: String,
    /// Client.
    pub client_id: String,
    /// Client display name (for the pages).
    pub app_name: String,
    /// Redirect URI as sent (validated against the registration).
    pub redirect_uri: String,
    /// Response mode.
    pub response_mode: ResponseMode,
    /// Scopes that will be granted.
    pub scope: Scopes,
    /// Client state.
    pub state: Option<String>,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// `prompt` values.
    pub prompt: Vec<String>,
    /// `max_age`.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `acr_values`, in order of preference.
    pub acr_values: Vec<String>,
    /// The user an `id_token_hint` named (object id).
    pub hint_user: Option<String>,
    /// `ui_locales`: the languages the pages should speak, in order of preference.
    #[serde(default)]
    pub ui_locales: Option<String>,
}

impl AuthorizeRequest {
    fn has_prompt(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    /// What this request demands of the journey.
    pub fn requirements(&self) -> Requirements {
        Requirements {
            fresh_login: self.has_prompt("login") || self.has_prompt("select_account"),
            max_age: self.max_age,
            expected_user: self.hint_user.clone(),
            consent: self.has_prompt("consent"),
            login_hint: self.login_hint.clone(),
            passive: self.has_prompt("none"),
            mfa: self.asks_for_mfa(),
        }
    }

    /// Whether `acr_values` asks for a multi-factor sign-in: it names the MFA class (or the
    /// PAPE multi-factor policy) and not the single-factor one, which would also do.
    pub fn asks_for_mfa(&self) -> bool {
        let mfa = |v: &String| v == ACR_MFA || v == ACR_PAPE_MFA;
        self.acr_values.iter().any(mfa) && !self.acr_values.iter().any(|v| v == ACR_SFA)
    }
}

/// How the authorization response travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query.
    Query,
    /// An HTML form posting the parameters.
    FormPost,
}

/// A SAML sign-in request carried through the journey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamlRequest {
    /// Tenant.
    pub tenant_id: String,
    /// The SP application's `client_id`.
    pub client_id: String,
    /// The SP application's name (for pages).
    pub app_name: String,
    /// SP entityID.
    pub sp_entity_id: String,
    /// The AuthnRequest's ID (`None` for IdP-initiated sign-in).
    pub request_id: Option<String>,
    /// The validated ACS URL.
    pub acs: String,
    /// RelayState, echoed unchanged.
    pub relay_state: Option<String>,
    /// ForceAuthn.
    pub force_authn: bool,
    /// IsPassive.
    pub is_passive: bool,
    /// Whether the requested authentication context needs more than a password.
    pub mfa: bool,
    /// The e-mail address the request names as its subject, if any.
    pub login_hint: Option<String>,
    /// The user (object id) the request's `<Subject>` names: only they may be asserted.
    #[serde(default)]
    pub expected_user: Option<String>,
    /// The persistent NameID the request's `<Subject>` names: the assertion must carry it.
    #[serde(default)]
    pub expected_name_id: Option<String>,
    /// The NameID format the request's NameIDPolicy asked for (`None`: the SP's registered
    /// format, as for `unspecified` or no policy).
    #[serde(default)]
    pub name_id_format: Option<NameIdFormat>,
}

/// An invitation being redeemed, carried through the journey.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedeemRequest {
    /// Tenant.
    pub tenant_id: String,
    /// The invitation.
    pub invitation_id: String,
    /// The guest user.
    pub user_id: String,
    /// The invited address.
    pub email: String,
    /// Where the guest goes afterwards (from the invitation, never from the request).
    pub redirect_url: String,
    /// Who invited.
    pub inviter_name: String,
    /// The inviting organisation.
    pub org_name: String,
    /// Its privacy statement.
    pub privacy_url: Option<String>,
    /// The invitation's language (`messageLanguage`), which the pages speak.
    #[serde(default)]
    pub language: Option<String>,
    /// An application invited: the pages name the organisation, not a person.
    #[serde(default)]
    pub inviter_is_app: bool,
}

/// A resource tenant's request to a guest's home tenant: sign this person in, then return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HomeRequest {
    /// The tenant the guest is going to.
    pub resource_tenant_id: String,
    /// Its slug (URLs).
    pub resource_slug: String,
    /// Its name (pages).
    pub resource_name: String,
    /// The resource transaction waiting for the guest.
    pub resource_tx: String,
    /// The address that must sign in (redemption), or the hint (sign-in).
    pub email: String,
    /// The resource's request demands a fresh sign-in (`prompt=login`, ForceAuthn).
    #[serde(default)]
    pub fresh_login: bool,
    /// The resource's request allows an authentication at most this old (`max_age`).
    #[serde(default)]
    pub max_age: Option<i64>,
    /// The home object id that must sign in (a guest's later sign-ins).
    pub expected_user: Option<String>,
    /// The resource tenant's page the browser returns to.
    pub return_url: String,
    /// The languages the resource's request asked for.
    #[serde(default)]
    pub ui_locales: Option<String>,
}

impl HomeRequest {
    /// What the home sign-in demands.
    pub fn requirements(&self) -> Requirements {
        Requirements {
            login_hint: Some(self.email.clone()),
            expected_user: self.expected_user.clone(),
            fresh_login: self.fresh_login,
            max_age: self.max_age,
            ..Requirements::default()
        }
    }
}

/// What the home tenant established about the user it signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeProof {
    /// Home tenant id.
    pub tenant_id: String,
    /// Home tenant slug.
    pub tenant_slug: String,
    /// Home issuer (the `idp` of the guest's tokens).
    pub issuer: String,
    /// The member's object id at home (the identity's subject).
    pub user_id: String,
    /// The member's address at home.
    pub email: String,
    /// How the member authenticated at home.
    pub amr: Vec<String>,
    /// When.
    pub auth_time: i64,
}
