//! Composing the e-mails Gatehouse sends — the invitation (B2B-REFERENCE.md B.2) and the
//! one-time passcode — in English, French or German. User-supplied text (inviter name,
//! personal message) is escaped in the HTML part by the template engine.

use std::sync::LazyLock;

use minijinja::Environment;
use serde::Serialize;

use crate::domain::unix_now;
use crate::store::{Addressee, OutboxMessage};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
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

/// A supported message language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English (the fallback).
    English,
    /// French.
    French,
    /// German.
    German,
}

impl Language {
    /// The language of an ISO 639 tag (`fr-FR`, `de`, …); English otherwise.
    pub fn from_tag(tag: Option<&str>) -> Self {
        match tag
            .unwrap_or("en")
            .split(['-', '_'])
            .next()
            .unwrap_or("en")
            .to_ascii_lowercase()
            .as_str()
        {
            "fr" => Self::French,
            "de" => Self::German,
            _ => Self::English,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::French => "fr",
            Self::German => "de",
        }
    }
}

/// The translatable sentences of the e-mails.
#[derive(Debug, Serialize)]
struct Strings {
    subject: String,
    warning: &'static str,
    headline: String,
    from_line: String,
    message_intro: String,
    default_body: String,
    accept: &'static str,
    destination: &'static str,
    block: String,
    privacy: String,
    no_privacy: String,
    code_subject: String,
    code_intro: String,
    code_expiry: &'static str,
    code_ignore: &'static str,
}

fn strings(lang: Language, inviter: &str, org: &str, domain: &str) -> Strings {
    match lang {
        Language::English => Strings {
            subject: format!(
                "{inviter} invited you to access applications within their organization"
            ),
            warning: "Only accept invitations you expect. Invitations can be used for phishing.",
            headline: format!("{inviter} invited you to {org}"),
            from_line: format!("{inviter} ({org}, {domain}) invited you to collaborate."),
            message_intro: format!("{inviter} wrote:"),
            default_body: format!(
                "Accept the invitation to sign in to the applications {org} shares with you."
            ),
            accept: "Accept invitation",
            destination: "After you accept, you will go to",
            block: format!("Block future invitations from {org}"),
            privacy: format!("Privacy statement of {org}"),
            no_privacy: format!("{org} has not provided a privacy statement."),
            code_subject: format!("Your {org} verification code"),
            code_intro: format!("Use this code to sign in to {org}:"),
            code_expiry: "The code expires in 10 minutes and works once.",
            code_ignore: "If you did not ask for a code, ignore this e-mail.",
        },
        Language::French => Strings {
            subject: format!(
                "{inviter} vous a invité à accéder aux applications de son organisation"
            ),
            warning: "N'acceptez que les invitations que vous attendez. Des invitations peuvent servir à l'hameçonnage.",
            headline: format!("{inviter} vous a invité chez {org}"),
            from_line: format!("{inviter} ({org}, {domain}) vous invite à collaborer."),
            message_intro: format!("{inviter} a écrit :"),
            default_body: format!(
                "Acceptez l'invitation pour vous connecter aux applications que {org} partage avec vous."
            ),
            accept: "Accepter l'invitation",
            destination: "Après avoir accepté, vous irez à",
            block: format!("Bloquer les futures invitations de {org}"),
            privacy: format!("Déclaration de confidentialité de {org}"),
            no_privacy: format!("{org} n'a pas fourni de déclaration de confidentialité."),
            code_subject: format!("Votre code de vérification {org}"),
            code_intro: format!("Utilisez ce code pour vous connecter à {org} :"),
            code_expiry: "Le code expire dans 10 minutes et ne sert qu'une fois.",
            code_ignore: "Si vous n'avez pas demandé de code, ignorez ce courriel.",
        },
        Language::German => Strings {
            subject: format!(
                "{inviter} hat Sie eingeladen, auf Anwendungen der Organisation zuzugreifen"
            ),
            warning: "Nehmen Sie nur Einladungen an, die Sie erwarten. Einladungen können für Phishing missbraucht werden.",
            headline: format!("{inviter} hat Sie zu {org} eingeladen"),
            from_line: format!("{inviter} ({org}, {domain}) lädt Sie zur Zusammenarbeit ein."),
            message_intro: format!("{inviter} schreibt:"),
            default_body: format!(
                "Nehmen Sie die Einladung an, um sich bei den Anwendungen anzumelden, die {org} mit Ihnen teilt."
            ),
            accept: "Einladung annehmen",
            destination: "Nach der Annahme gelangen Sie zu",
            block: format!("Künftige Einladungen von {org} blockieren"),
            privacy: format!("Datenschutzerklärung von {org}"),
            no_privacy: format!("{org} hat keine Datenschutzerklärung angegeben."),
            code_subject: format!("Ihr Bestätigungscode für {org}"),
            code_intro: format!("Melden Sie sich mit diesem Code bei {org} an:"),
            code_expiry: "Der Code läuft in 10 Minuten ab und gilt nur einmal.",
            code_ignore: "Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail.",
        },
    }
}

fn render(name: &str, context: minijinja::Value) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template(name)?.render(context)
}

/// What an invitation e-mail says.
#[derive(Debug, Clone)]
pub struct InvitationMail<'a> {
    /// Tenant id.
    pub tenant_id: &'a str,
    /// Organisation name.
    pub org: &'a str,
    /// Organisation primary domain.
    pub domain: &'a str,
    /// Inviter display name.
    pub inviter: &'a str,
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
    pub language: Language,
}

/// The invitation e-mail as an outbox message.
pub fn invitation(mail: &InvitationMail<'_>) -> Result<OutboxMessage, minijinja::Error> {
    let t = strings(mail.language, mail.inviter, mail.org, mail.domain);
    let context = minijinja::context! {
        lang => mail.language.code(),
        t => minijinja::value::Serde(&t),
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
        recipients.push(Addressee::reply_to(reply_to, Some(mail.inviter)));
    }
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(mail.tenant_id.to_owned()),
        recipients,
        subject: t.subject,
        body_text: render("invitation.txt", context.clone())?,
        body_html: render("invitation.html", context)?,
        created_at: unix_now(),
        attempts: 0,
    })
}

/// A one-time passcode e-mail.
pub fn passcode(
    tenant_id: &str,
    org: &str,
    to: &str,
    code: &str,
    language: Language,
) -> Result<OutboxMessage, minijinja::Error> {
    let t = strings(language, "", org, "");
    let context = minijinja::context! {
        lang => language.code(), t => minijinja::value::Serde(&t), code
    };
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(tenant_id.to_owned()),
        recipients: vec![Addressee::to(to, None)],
        subject: t.code_subject,
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

fn notice_strings(lang: Language, notice: Notice, org: &str) -> (String, String, &'static str) {
    use Notice::*;
    match lang {
        Language::French => (
            format!("Alerte de sécurité pour votre compte {org}"),
            match notice {
                MethodAdded => format!(
                    "Une application d'authentification a été ajoutée à votre compte {org}."
                ),
                MethodRemoved => format!(
                    "Une application d'authentification a été retirée de votre compte {org}."
                ),
                RecoveryCodesReplaced => format!(
                    "De nouveaux codes de récupération ont été créés pour votre compte {org}."
                ),
                RepeatedFailures => format!(
                    "Plusieurs codes de vérification erronés ont été saisis pour votre compte {org}."
                ),
            },
            "Si ce n'était pas vous, changez votre mot de passe et prévenez l'administrateur de l'organisation.",
        ),
        Language::German => (
            format!("Sicherheitshinweis zu Ihrem Konto bei {org}"),
            match notice {
                MethodAdded => {
                    format!("Ihrem Konto bei {org} wurde eine Authentifizierungs-App hinzugefügt.")
                }
                MethodRemoved => {
                    format!("Von Ihrem Konto bei {org} wurde eine Authentifizierungs-App entfernt.")
                }
                RecoveryCodesReplaced => {
                    format!("Für Ihr Konto bei {org} wurden neue Wiederherstellungscodes erstellt.")
                }
                RepeatedFailures => format!(
                    "Für Ihr Konto bei {org} wurden mehrere falsche Bestätigungscodes eingegeben."
                ),
            },
            "Falls Sie das nicht waren, ändern Sie Ihr Passwort und informieren Sie den Administrator der Organisation.",
        ),
        Language::English => (
            format!("Security notice for your {org} account"),
            match notice {
                MethodAdded => format!("An authenticator app was added to your {org} account."),
                MethodRemoved => {
                    format!("An authenticator app was removed from your {org} account.")
                }
                RecoveryCodesReplaced => {
                    format!("New recovery codes were created for your {org} account.")
                }
                RepeatedFailures => {
                    format!("Several wrong verification codes were entered for your {org} account.")
                }
            },
            "If this was not you, change your password and tell the organisation's administrator.",
        ),
    }
}

/// A security notice as an outbox message.
pub fn notice(
    tenant_id: &str,
    org: &str,
    to: &str,
    notice: Notice,
    language: Language,
) -> Result<OutboxMessage, minijinja::Error> {
    let (subject, body, advice) = notice_strings(language, notice, org);
    let when = format!("{} UTC", crate::graph::date_time(unix_now()));
    let context = minijinja::context! { lang => language.code(), body, advice, when };
    Ok(OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: Some(tenant_id.to_owned()),
        recipients: vec![Addressee::to(to, None)],
        subject,
        body_text: render("notice.txt", context.clone())?,
        body_html: render("notice.html", context)?,
        created_at: unix_now(),
        attempts: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(message: Option<&str>, language: Language) -> OutboxMessage {
        invitation(&InvitationMail {
            tenant_id: "t",
            org: "Contoso",
            domain: "contoso.example",
            inviter: "Bob <b>Boss</b>",
            inviter_email: Some("bob@contoso.example"),
            to: "alice@partner.example",
            to_name: None,
            cc: None,
            message,
            redeem_url: "https://idp.example/contoso/redeem?i=abc",
            destination: "https://app.example/",
            block_url: "https://idp.example/contoso/block?b=def",
            privacy_url: None,
            language,
        })
        .unwrap()
    }

    #[test]
    fn the_invitation_has_every_element_and_escapes_user_text() {
        let message = sample(Some("Welcome <script>x</script>"), Language::English);
        assert_eq!(
            message.subject,
            "Bob <b>Boss</b> invited you to access applications within their organization"
        );
        let html = &message.body_html;
        assert!(html.contains("Only accept invitations you expect"));
        assert!(html.contains("Welcome &lt;script&gt;x&lt;"), "{html}");
        assert!(html.contains("Bob &lt;b&gt;Boss&lt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("redeem?i=abc"));
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
    fn the_language_follows_the_tag() {
        assert_eq!(Language::from_tag(Some("fr-FR")), Language::French);
        assert_eq!(Language::from_tag(Some("de")), Language::German);
        assert_eq!(Language::from_tag(Some("xx")), Language::English);
        let french = sample(None, Language::French);
        assert!(
            french.body_html.contains("Accepter l'invitation")
                || french.body_html.contains("Accepter l&#x27;invitation")
        );
        assert!(french.subject.contains("vous a invité"));
    }
}
