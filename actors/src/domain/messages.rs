//! OTP message templates per locale (DIGIT's egov-localization, here files under `config/messages/`).
//!
//! A template takes the OTP at `%s` (DIGIT's `String.format` style) or `{otp}` (mGramSeva's). A code missing
//! from the requested locale comes from the default locale's catalog, and failing that from the built-in
//! text of DIGIT: a message is never sent broken or empty.

use std::collections::BTreeMap;

use super::otp::Purpose;

/// The message codes of DIGIT and their built-in texts.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "sms.register.otp.msg",
        "Dear Citizen, Your OTP to complete your DIGIT Registration is %s.",
    ),
    ("sms.login.otp.msg", "Dear Citizen, Your Login OTP is %s."),
    (
        "sms.pwd.reset.otp.msg",
        "Dear Citizen, Your OTP for recovering password is %s.",
    ),
    ("email.login.otp.sub", "Login OTP"),
    (
        "email.login.otp.body",
        "Dear Citizen, Your Login OTP is %s.",
    ),
    ("email.pwd.reset.otp.sub", "Password Reset"),
    (
        "email.pwd.reset.otp.body",
        "Your OTP for recovering password is %s.",
    ),
];

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The SMS of a purpose.
    Sms(Purpose),
    /// The e-mail subject of a purpose.
    EmailSubject(Purpose),
    /// The e-mail body of a purpose.
    EmailBody(Purpose),
}

impl Template {
    /// DIGIT's localisation code. Codes created by other services (`Direct`) are never sent by us; they use
    /// the login texts should one ever be rendered.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sms(Purpose::Register) => "sms.register.otp.msg",
            Self::Sms(Purpose::Login | Purpose::Direct) => "sms.login.otp.msg",
            Self::Sms(Purpose::PasswordReset) => "sms.pwd.reset.otp.msg",
            Self::EmailSubject(Purpose::PasswordReset) => "email.pwd.reset.otp.sub",
            Self::EmailSubject(_) => "email.login.otp.sub",
            Self::EmailBody(Purpose::PasswordReset) => "email.pwd.reset.otp.body",
            Self::EmailBody(_) => "email.login.otp.body",
        }
    }
}

/// Why a catalog was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A code no template uses: a typo that would silently fall back.
    #[error("locale {locale}: unknown message code {code:?}")]
    UnknownCode {
        /// The locale.
        locale: String,
        /// The code.
        code: String,
    },
    /// An SMS or body template without a placeholder would send no OTP.
    #[error("locale {locale}: {code:?} has no %s or {{otp}} placeholder")]
    NoPlaceholder {
        /// The locale.
        locale: String,
        /// The code.
        code: String,
    },
    /// The default locale has no catalog.
    #[error("no catalog for the default locale {0}")]
    NoDefault(String),
}

/// Catalogs by locale.
#[derive(Debug, Clone)]
pub struct MessageCatalogs {
    locales: BTreeMap<String, BTreeMap<String, String>>,
    default_locale: String,
}

impl MessageCatalogs {
    /// Checks and keeps `locales` (locale → code → template).
    pub fn new(
        locales: BTreeMap<String, BTreeMap<String, String>>,
        default_locale: &str,
    ) -> Result<Self, CatalogError> {
        if !locales.contains_key(default_locale) {
            return Err(CatalogError::NoDefault(default_locale.to_owned()));
        }
        for (locale, codes) in &locales {
            for (code, text) in codes {
                if !BUILT_IN.iter().any(|(c, _)| c == code) {
                    return Err(CatalogError::UnknownCode {
                        locale: locale.clone(),
                        code: code.clone(),
                    });
                }
                if !code.ends_with(".sub") && !text.contains("%s") && !text.contains("{otp}") {
                    return Err(CatalogError::NoPlaceholder {
                        locale: locale.clone(),
                        code: code.clone(),
                    });
                }
            }
        }
        Ok(Self {
            locales,
            default_locale: default_locale.to_owned(),
        })
    }

    /// The locales with a catalog.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locales.keys().map(String::as_str)
    }

    /// The text of `template` in `locale` (or the default), with `otp` in place of the placeholders.
    pub fn render(&self, locale: Option<&str>, template: Template, otp: &str) -> String {
        let code = template.code();
        let text = locale
            .and_then(|l| self.locales.get(l))
            .and_then(|m| m.get(code))
            .or_else(|| {
                self.locales
                    .get(&self.default_locale)
                    .and_then(|m| m.get(code))
            })
            .map(String::as_str)
            .unwrap_or_else(|| {
                BUILT_IN
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map(|(_, t)| *t)
                    .expect("every code is built in")
            });
        text.replace("%s", otp).replace("{otp}", otp)
    }
}

/// The locale in DIGIT's `RequestInfo.msgId` (`"<ts>|<locale>"`), if it names one.
pub fn locale_from_msg_id(msg_id: &str) -> Option<&str> {
    let (_, locale) = msg_id.split_once('|')?;
    let locale = locale.trim();
    let valid = !locale.is_empty()
        && locale.len() <= 16
        && locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then_some(locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogs() -> MessageCatalogs {
        let mut locales = BTreeMap::new();
        locales.insert(
            "en_IN".to_owned(),
            BTreeMap::from([(
                "sms.login.otp.msg".to_owned(),
                "Your Login OTP is %s.".to_owned(),
            )]),
        );
        locales.insert(
            "hi_IN".to_owned(),
            BTreeMap::from([(
                "sms.login.otp.msg".to_owned(),
                "आपका OTP {otp} है".to_owned(),
            )]),
        );
        MessageCatalogs::new(locales, "en_IN").unwrap()
    }

    #[test]
    fn both_placeholder_styles() {
        assert_eq!(
            catalogs().render(Some("en_IN"), Template::Sms(Purpose::Login), "482913"),
            "Your Login OTP is 482913."
        );
        assert_eq!(
            catalogs().render(Some("hi_IN"), Template::Sms(Purpose::Login), "482913"),
            "आपका OTP 482913 है"
        );
    }

    #[test]
    fn missing_codes_and_locales_fall_back_never_break() {
        let c = catalogs();
        // code missing in hi_IN and en_IN: DIGIT's built-in text
        assert_eq!(
            c.render(Some("hi_IN"), Template::Sms(Purpose::Register), "1"),
            "Dear Citizen, Your OTP to complete your DIGIT Registration is 1."
        );
        // unknown locale: the default catalog
        assert_eq!(
            c.render(Some("fr_FR"), Template::Sms(Purpose::Login), "2"),
            "Your Login OTP is 2."
        );
        assert_eq!(
            c.render(None, Template::EmailSubject(Purpose::PasswordReset), "3"),
            "Password Reset"
        );
        assert_eq!(
            c.render(None, Template::EmailBody(Purpose::Login), "4"),
            "Dear Citizen, Your Login OTP is 4."
        );
    }

    #[test]
    fn catalogs_with_typos_or_without_placeholders_are_refused() {
        let typo = BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([("sms.logn.otp.msg".to_owned(), "%s".to_owned())]),
        )]);
        assert!(matches!(
            MessageCatalogs::new(typo, "en_IN"),
            Err(CatalogError::UnknownCode { .. })
        ));
        let blind = BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([("sms.login.otp.msg".to_owned(), "no code".to_owned())]),
        )]);
        assert!(matches!(
            MessageCatalogs::new(blind, "en_IN"),
            Err(CatalogError::NoPlaceholder { .. })
        ));
        assert!(matches!(
            MessageCatalogs::new(BTreeMap::new(), "en_IN"),
            Err(CatalogError::NoDefault(_))
        ));
    }

    #[test]
    fn locale_comes_from_the_msg_id() {
        assert_eq!(locale_from_msg_id("1690000000000|hi_IN"), Some("hi_IN"));
        assert_eq!(locale_from_msg_id("20170310130900|en_IN"), Some("en_IN"));
        assert_eq!(locale_from_msg_id("no-locale"), None);
        assert_eq!(locale_from_msg_id("1|"), None);
        assert_eq!(locale_from_msg_id("1|../../etc"), None);
    }

    #[test]
    fn the_shipped_catalogs_are_valid() {
        let load = |text: &str| toml::from_str::<BTreeMap<String, String>>(text).unwrap();
        let locales = BTreeMap::from([
            (
                "en_IN".to_owned(),
                load(include_str!("../../../config/messages/en_IN.toml")),
            ),
            (
                "hi_IN".to_owned(),
                load(include_str!("../../../config/messages/hi_IN.toml")),
            ),
        ]);
        let c = MessageCatalogs::new(locales, "en_IN").unwrap();
        assert_eq!(
            c.render(Some("en_IN"), Template::Sms(Purpose::PasswordReset), "9"),
            "Dear Citizen, Your OTP for recovering password is 9."
        );
        assert!(
            c.render(Some("hi_IN"), Template::Sms(Purpose::Login), "9")
                .contains('9')
        );
    }
}
