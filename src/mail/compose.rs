//! Composing the e-mails Gatehouse sends — the invitation (B2B-REFERENCE.md B.2), the one-time
//! passcode and security notices — in English, French or German (the words come from the
//! catalogues of [`crate::i18n`]), with the tenant's name, logo and accent colour. The HTML
//! part has a viewport and a single fluid column, so it reads at phone width. User-supplied
//! text (inviter name, personal message) is escaped in the HTML part by the template engine.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use crate::domain::tenant::Tenant;
use crate::domain::unix_now;
use crate::i18n::{Locale, Text};
use crate::store::{Addressee, OutboxMessage};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    crate::i18n::register(&mut env);
    for (name, source) in [
        ("layout.html", include_str!("templates/layout.html")),
        ("invitation.txt", include_str!("templates/invitation.txt")),
        ("invitation.html", include_str!("templates/invitation.html")),
        ("passcode.txt", include_str!("templates/passcode.txt")),
        ("passcode.html", include_str!("templates/passcode.html")),
        ("notice.txt", include_str!("templates/notice.txt")),
        ("notice.html", include_str!("templates/notice.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "mail template does not compile");
        }
    }
    env
});

/// The organisation a mail speaks for, as the mail shows it: its name, its logo (an absolute
/// URL on this Gatehouse; mail clients that hold remote images back show the name instead)
/// and its accent colour with the text colour that reads on it.
#[derive(Debug, Clone, Serialize)]
pub struct MailBrand {
    /// Display name.
    pub name: String,
    /// Absolute URL of the logo, if the tenant uploaded one.
    pub logo_url: Option<String>,
    /// Button colour.
    pub accent: String,
    /// Text colour on the button.
    pub on_accent: String,
}

impl MailBrand {
    /// The tenant's brand in mail sent from `base_url`.
    pub fn of(tenant: &Tenant, base_url: &str) -> Self {
        let accent = tenant
            .branding
            .accent_color
            .clone()
            .unwrap_or_else(|| DEFAULT_ACCENT.to_owned());
        Self {
            name: tenant.name.clone(),
            logo_url: tenant.branding.logo.as_ref().map(|_| {
                format!(
                    "{base_url}/{}/branding/logo?v={}",
                    tenant.slug,
                    tenant.branding.version()
                )
            }),
            on_accent: crate::domain::branding::text_on(&accent).to_owned(),
            accent,
        }
    }
}

/// The button colour of mail from a tenant without an accent colour.
const DEFAULT_ACCENT: &str = "#1f4fbf";

fn render(name: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template(name)?.render(context)
}

/// What an invitation e-mail says.
#[derive(Debug, Clone)]
pub struct InvitationMail<'a> {
    /// Tenant id.
    pub tenant_id: &'a str,
    /// The inviting organisation.
    pub brand: &'a MailBrand,
    /// Organisation primary domain.
    pub domain: &'a str,
    /// The person who invited, by display name; `None` when an application invited (the mail
    /// then speaks as the organisation).
    pub inviter: Option<&'a str>,
    /// Inviter address, for Reply-To.
    pub inviter_email: Option<&'a str>,
    /// The invited address.
    pub to: &'a str,
    /// The invitee's display name.
    pub to_name: Option<&'a str>,
    /// The cc recipient.
    pub cc: Option<(&'a str, Option<&'a str>)>,
    /// The personal message (plain text).
    pub message: Option<&'a str>,
    /// The accept link.
    pub redeem_url: &'a str,
    /// Where the guest lands after accepting.
    pub destination: &'a str,
    /// The "block future invitations" link.
    pub block_url: &'a str,
    /// The organisation's privacy statement.
    pub privacy_url: Option<&'a str>,
    /// Language.
    pub locale: Locale,
}

/// The invitation e-mail as an outbox message. Its subject names the organisation ("Contoso
/// invited you…"); the person who invited is named in the body.
pub fn invitation(mail: &InvitationMail<'_>) -> Result<OutboxMessage, minijinja::Error> {
    let org = mail.brand.name.as_str();
    let context = minijinja::context! {
        lang => mail.locale.tag(),
        brand => minijinja::value::Serde(mail.brand),
        org,
        domain => mail.domain,
        inviter => mail.inviter,
        message => mail.message,
        redeem_url => mail.redeem_url,
        destination => mail.destination,
        block_url => mail.block_url,
        privacy_url => mail.privacy_url,
    };
    let mut recipients = vec![Addressee::to(mail.to, mail.to_name)];
    if let Some((address, name)) = mail.cc {
        recipients.push(Addressee::cc(address, name));
    }
    if let Some(reply_to) = mail.inviter_email {
        recipients.push(Addressee::reply_to(reply_to, mail.inviter));
    }
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(mail.tenant_id.to_owned()),
        recipients,
        subject: Text::new("mail-invite-subject")
            .arg("org", org)
            .in_locale(mail.locale),
        body_text: render("invitation.txt", context.clone())?,
        body_html: render("invitation.html", context)?,
        created_at: unix_now(),
        attempts: 0,
    })
}

/// A one-time passcode e-mail.
pub fn passcode(
    tenant_id: &str,
    brand: &MailBrand,
    to: &str,
    code: &str,
    locale: Locale,
) -> Result<OutboxMessage, minijinja::Error> {
    let context = minijinja::context! {
        lang => locale.tag(),
        brand => minijinja::value::Serde(brand),
        org => &brand.name,
        code,
    };
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(tenant_id.to_owned()),
        recipients: vec![Addressee::to(to, None)],
        subject: Text::new("mail-code-subject")
            .arg("org", brand.name.as_str())
            .in_locale(locale),
        body_text: render("passcode.txt", context.clone())?,
        body_html: render("passcode.html", context)?,
        created_at: unix_now(),
        attempts: 0,
    })
}

/// A security notice about the user's sign-in methods (SECURITY.md H.72, H.75).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A TOTP authenticator was added.
    MethodAdded,
    /// A TOTP authenticator was removed.
    MethodRemoved,
    /// Recovery codes were replaced.
    RecoveryCodesReplaced,
    /// Several wrong verification codes in a row.
    RepeatedFailures,
}

impl Notice {
    /// The catalogue message of the notice's body.
    fn message_key(self) -> &'static str {
        match self {
            Self::MethodAdded => "mail-notice-added",
            Self::MethodRemoved => "mail-notice-removed",
            Self::RecoveryCodesReplaced => "mail-notice-recovery",
            Self::RepeatedFailures => "mail-notice-failures",
        }
    }
}

/// A security notice as an outbox message.
pub fn notice(
    tenant_id: &str,
    brand: &MailBrand,
    to: &str,
    notice: Notice,
    locale: Locale,
) -> Result<OutboxMessage, minijinja::Error> {
    let when = format!("{} UTC", crate::domain::date_time(unix_now()));
    let context = minijinja::context! {
        lang => locale.tag(),
        brand => minijinja::value::Serde(brand),
        org => &brand.name,
        body_key => notice.message_key(),
        when,
    };
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(tenant_id.to_owned()),
        recipients: vec![Addressee::to(to, None)],
        subject: Text::new("mail-notice-subject")
            .arg("org", brand.name.as_str())
            .in_locale(locale),
        body_text: render("notice.txt", context.clone())?,
        body_html: render("notice.html", context)?,
        created_at: unix_now(),
        attempts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brand() -> MailBrand {
        MailBrand {
            name: "Contoso".into(),
            logo_url: Some("https://idp.example/contoso/branding/logo?v=1".into()),
            accent: "#0b5cad".into(),
            on_accent: "#ffffff".into(),
        }
    }

    fn sample(message: Option<&str>, inviter: Option<&str>, locale: Locale) -> OutboxMessage {
        invitation(&InvitationMail {
            tenant_id: "t",
            brand: &brand(),
            domain: "contoso.example",
            inviter,
            inviter_email: Some("bob@contoso.example"),
            to: "alice@partner.example",
            to_name: None,
            cc: None,
            message,
            redeem_url: "https://idp.example/contoso/redeem?i=abc",
            destination: "https://app.example/",
            block_url: "https://idp.example/contoso/block?b=def",
            privacy_url: None,
            locale,
        })
        .unwrap()
    }

    #[test]
    fn the_invitation_has_every_element_and_escapes_user_text() {
        let message = sample(
            Some("Welcome <script>x</script>"),
            Some("Bob <b>Boss</b>"),
            Locale::En,
        );
        assert_eq!(
            message.subject,
            "Contoso invited you to access its applications"
        );
        let html = &message.body_html;
        assert!(html.contains("Only accept invitations you expect"));
        assert!(html.contains("Welcome &lt;script&gt;x&lt;"), "{html}");
        assert!(html.contains("Bob &lt;b&gt;Boss&lt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("redeem?i=abc"));
        assert!(html.contains(r#"name="viewport""#), "readable on a phone");
        assert!(
            html.contains("background:#0b5cad"),
            "the accent colour: {html}"
        );
        assert!(html.contains(r#"alt="Contoso""#), "the logo: {html}");
        assert!(
            message
                .body_text
                .contains("https://idp.example/contoso/redeem?i=abc")
        );
        assert!(message.body_text.contains("https://app.example/"));
        assert!(html.contains("Block future invitations from Contoso"));
        assert!(html.contains("has not provided a privacy statement"));
        assert!(
            message.body_text.contains("Welcome <script>x</script>"),
            "plain text stays plain"
        );
        assert!(
            message
                .recipients
                .iter()
                .any(|r| r.role == crate::store::mail::Role::ReplyTo)
        );
    }

    #[test]
    fn an_application_invites_as_the_organisation() {
        let message = sample(None, None, Locale::En);
        assert!(
            message
                .body_html
                .contains("Contoso (contoso.example) invited you")
        );
        assert!(!message.body_text.contains(" of Contoso"));
    }

    #[test]
    fn the_language_is_the_one_asked_for() {
        let french = sample(None, Some("Bob"), Locale::Fr);
        assert!(
            french.body_html.contains("Accepter l"),
            "{}",
            french.body_html
        );
        assert_eq!(
            french.subject,
            "Contoso vous a invité à accéder à ses applications"
        );
        let german = sample(None, Some("Bob"), Locale::De);
        assert!(german.body_text.contains("Einladung annehmen"));
        let code = passcode("t", &brand(), "a@b.example", "123456", Locale::De).unwrap();
        assert_eq!(code.subject, "Ihr Bestätigungscode für Contoso");
        assert!(code.body_text.contains("123456"));
    }
}
