//! The words people read — pages and mail — in English, French and German: one Fluent
//! catalogue per language (`en.ftl`, `fr.ftl`, `de.ftl` beside this file, compiled into the
//! binary), the choice of language for a request, and [`Text`], a message not yet put into
//! words, which errors and page notices carry until the page knows its reader's language.
//!
//! The language of a page is, in order: the request's `ui_locales` (OIDC), the language
//! remembered for the user (an invitation's `messageLanguage`, kept as the guest's
//! `preferredLanguage`), then the browser's `Accept-Language`; English when none of those names
//! a language Gatehouse speaks ([`Locale::negotiate`]).
//!
//! Templates call `t("key", name=value, …)`: in an HTML template the arguments are escaped and
//! the message's own markup (a `<strong>` in the catalogue) is kept; in a text template nothing
//! is escaped. Catalogue messages are trusted (they ship with the binary); arguments never are.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

/// A language Gatehouse speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English, the fallback.
    #[default]
    En,
    /// French.
    Fr,
    /// German.
    De,
}

impl Locale {
    /// Every language, in the order discovery lists them (`ui_locales_supported`).
    pub const ALL: [Self; 3] = [Self::En, Self::Fr, Self::De];

    /// The BCP 47 tag (`<html lang>`, `Content-Language`).
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
            Self::De => "de",
        }
    }

    /// The language of one BCP 47 tag (`fr-CA`, `de`, `EN_gb`), if Gatehouse speaks it.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.tag() == primary)
    }

    /// The first language Gatehouse speaks in a space-separated list (`ui_locales`, RFC 5646
    /// tags in order of preference).
    pub fn from_list(list: &str) -> Option<Self> {
        list.split_whitespace().find_map(Self::from_tag)
    }

    /// The best match for an `Accept-Language` header (its order of preference kept).
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let requested = fluent_langneg::parse_accepted_languages(header);
        let available: Vec<fluent_langneg::LanguageIdentifier> = Self::ALL
            .iter()
            .filter_map(|l| l.tag().parse().ok())
            .collect();
        let chosen = fluent_langneg::negotiate_languages(
            &requested,
            &available,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        );
        chosen
            .first()
            .and_then(|id| Self::from_tag(id.language.as_str()))
    }

    /// The language of a page: `ui_locales` first, then the user's remembered language, then
    /// the browser's `Accept-Language`, else English.
    pub fn negotiate(
        ui_locales: Option<&str>,
        remembered: Option<&str>,
        accept_language: Option<&str>,
    ) -> Self {
        ui_locales
            .and_then(Self::from_list)
            .or_else(|| remembered.and_then(Self::from_tag))
            .or_else(|| accept_language.and_then(Self::from_accept_language))
            .unwrap_or_default()
    }

    fn catalogue(self) -> &'static FluentBundle<FluentResource> {
        &CATALOGUES[self as usize]
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// The catalogues' sources, in [`Locale::ALL`] order.
const SOURCES: [(Locale, &str); 3] = [
    (Locale::En, include_str!("en.ftl")),
    (Locale::Fr, include_str!("fr.ftl")),
    (Locale::De, include_str!("de.ftl")),
];

static CATALOGUES: LazyLock<Vec<FluentBundle<FluentResource>>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(locale, source)| {
            let id = locale
                .tag()
                .parse()
                .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Pages and mail are not bidirectional text: no isolation marks around arguments.
            bundle.set_use_isolating(false);
            // The catalogues ship with the binary; a syntax error is caught by the unit tests
            // (every message is formatted in every language there).
            let resource = FluentResource::try_new((*source).to_owned())
                .unwrap_or_else(|(resource, _)| resource);
            let _ = bundle.add_resource(resource);
            bundle
        })
        .collect()
});

/// An argument of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    /// A number (selects plural forms).
    Number(i64),
    /// Text.
    Text(String),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Number(value)
    }
}

impl From<u64> for Arg {
    fn from(value: u64) -> Self {
        Self::Number(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Arg {
    fn from(value: usize) -> Self {
        Self::Number(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

/// A message of the catalogue with its arguments, put into words only when the reader's
/// language is known. Serializable, so a page notice can wait in a sign-in transaction
/// (Post/Redirect/Get).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The message id in the catalogues.
    pub key: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<(String, Arg)>,
}

impl Text {
    /// The message `key` without arguments.
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            args: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, name: &str, value: impl Into<Arg>) -> Self {
        self.args.push((name.to_owned(), value.into()));
        self
    }

    /// The message in `locale`, arguments as given (plain text).
    pub fn in_locale(&self, locale: Locale) -> String {
        translate(locale, &self.key, &self.args, |s| s.to_owned())
    }

    /// The message in `locale` as HTML: the arguments escaped, the catalogue's markup kept.
    pub fn in_locale_html(&self, locale: Locale) -> String {
        translate(locale, &self.key, &self.args, escape_html)
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

/// The message `key` in `locale` with `args`, each text argument passed through `escape`. A
/// message missing from a catalogue falls back to English, then to its key (and is logged):
/// a page never fails for a missing translation.
pub fn translate(
    locale: Locale,
    key: &str,
    args: &[(String, Arg)],
    escape: impl Fn(&str) -> String,
) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        let value = match value {
            Arg::Number(n) => FluentValue::from(*n),
            Arg::Text(text) => FluentValue::from(escape(text)),
        };
        fluent_args.set(name.clone(), value);
    }
    for candidate in [locale, Locale::En] {
        let bundle = candidate.catalogue();
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            continue;
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, locale = %candidate, ?errors, "message formatted with errors");
        }
        return text.into_owned();
    }
    tracing::warn!(key, %locale, "message missing from the catalogues");
    key.to_owned()
}

/// The message `key` in `locale` without arguments (plain text).
pub fn text(locale: Locale, key: &str) -> String {
    translate(locale, key, &[], |s| s.to_owned())
}

/// Registers `t(key, name=value, …)` on a template environment. The template's context must
/// hold `lang` (a [`Locale`] tag); without it the text is English.
pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("t", template_function);
}

fn template_function(
    state: &minijinja::State<'_, '_>,
    key: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let locale = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Locale::from_tag))
        .unwrap_or_default();
    let mut args = Vec::new();
    for name in kwargs.args() {
        let value: minijinja::Value = kwargs.get(name)?;
        let arg = match value.as_i64() {
            Some(n) if value.kind() == minijinja::value::ValueKind::Number => Arg::Number(n),
            _ => Arg::Text(value.to_string()),
        };
        args.push((name.to_owned(), arg));
    }
    kwargs.assert_all_used()?;
    let html = !matches!(state.auto_escape(), minijinja::AutoEscape::None);
    Ok(if html {
        minijinja::Value::from_safe_string(translate(locale, key, &args, escape_html))
    } else {
        minijinja::Value::from(translate(locale, key, &args, |s| s.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_ids(source: &str) -> Vec<String> {
        source
            .lines()
            .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
            .filter_map(|line| line.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    #[test]
    fn every_catalogue_parses_and_has_every_message() {
        let english = message_ids(SOURCES[0].1);
        assert!(
            english.len() > 100,
            "the English catalogue is the reference"
        );
        for (locale, source) in SOURCES {
            if let Err((_, errors)) = FluentResource::try_new(source.to_owned()) {
                panic!("{locale}.ftl does not parse: {errors:?}");
            }
            let ids = message_ids(source);
            for id in &english {
                assert!(ids.contains(id), "{locale}.ftl lacks {id}");
            }
            for id in &ids {
                assert!(
                    english.contains(id),
                    "{locale}.ftl has {id}, which en.ftl lacks"
                );
            }
        }
    }

    #[test]
    fn every_message_formats_without_errors_in_every_language() {
        let args: Vec<(String, Arg)> = [
            "org",
            "app",
            "email",
            "inviter",
            "current",
            "idp",
            "destination",
            "name",
            "created",
            "used",
            "who",
            "home",
            "account",
            "reason",
            "address",
            "partner",
            "detail",
            "code",
            "message",
            "method",
            "time",
            "domain",
            "url",
            "tenant",
        ]
        .iter()
        .map(|n| ((*n).to_owned(), Arg::Text("x".into())))
        .chain(
            ["seconds", "minutes", "count", "days"]
                .iter()
                .map(|n| ((*n).to_owned(), Arg::Number(2))),
        )
        .collect();
        for (locale, source) in SOURCES {
            let bundle = locale.catalogue();
            for id in message_ids(source) {
                let pattern = bundle.get_message(&id).and_then(|m| m.value()).unwrap();
                let mut fluent_args = FluentArgs::new();
                for (name, value) in &args {
                    match value {
                        Arg::Number(n) => fluent_args.set(name.clone(), *n),
                        Arg::Text(t) => fluent_args.set(name.clone(), t.clone()),
                    }
                }
                let mut errors = Vec::new();
                let _ = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
                assert!(errors.is_empty(), "{locale} {id}: {errors:?}");
            }
        }
    }

    #[test]
    fn the_language_is_ui_locales_then_remembered_then_accept_language() {
        assert_eq!(
            Locale::negotiate(Some("fr-CA en"), Some("de"), Some("de")),
            Locale::Fr
        );
        assert_eq!(
            Locale::negotiate(Some("ja it"), Some("de"), Some("fr")),
            Locale::De
        );
        assert_eq!(
            Locale::negotiate(None, None, Some("de-AT,de;q=0.9,en;q=0.5")),
            Locale::De
        );
        assert_eq!(
            Locale::negotiate(None, None, Some("ja,fr;q=0.8")),
            Locale::Fr
        );
        assert_eq!(Locale::negotiate(None, Some("xx"), Some("ja")), Locale::En);
        assert_eq!(Locale::negotiate(None, None, None), Locale::En);
    }

    #[test]
    fn arguments_are_escaped_and_plurals_follow_the_language() {
        let text = Text::new("consent-lead").arg("app", "<b>Evil</b>");
        let html = text.in_locale_html(Locale::En);
        assert!(
            html.contains("&lt;b&gt;Evil&lt;") && !html.contains("<b>"),
            "{html}"
        );
        assert!(
            html.contains("<strong>"),
            "the catalogue's markup stays: {html}"
        );
        let one = Text::new("login-error-throttled").arg("seconds", 1_i64);
        let many = Text::new("login-error-throttled").arg("seconds", 30_i64);
        assert_ne!(one.in_locale(Locale::En), many.in_locale(Locale::En));
        assert!(many.in_locale(Locale::De).contains("30 Sekunden"));
    }

    #[test]
    fn a_missing_message_falls_back_to_its_key() {
        assert_eq!(text(Locale::Fr, "no-such-message"), "no-such-message");
    }
}
