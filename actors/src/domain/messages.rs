//! OTP message templates per locale (DIGIT's egov-localization, here files under `config/messages/`).
//!
//! A template takes the OTP at `%s` (DIGIT's `String.format` style) or `{otp}` (mGramSeva's). A code missing
//! from the requested locale comes from the default locale's catalog, and failing that from the built-in
//! text of DIGIT: a message is never sent broken or empty.
//!
//! Which code each flow's SMS uses is configured ([`SmsCodes`]): DIGIT core's by default; mGramSeva's fork
//! sends `RESET_PASSWORD_OTP` for a reset and `RESET_PASSWORD_FIRST_TIME_OTP` to an employee who still has the
//! password HRMS set.

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
    // mGramSeva's (module mgramseva-common), texts of its SMS template list
    (
        "RESET_PASSWORD_OTP",
        "OTP to reset password on NalJal is {otp}",
    ),
    (
        "RESET_PASSWORD_FIRST_TIME_OTP",
        "OTP to reset password on NalJal is {otp}",
    ),
];

/// The message code of each flow's SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCodes {
    /// `type: register`
    pub register: String,
    /// `type: login`
    pub login: String,
    /// `type: passwordreset`
    pub password_reset: String,
    /// A login or reset of a user whose password is still the one an admin set (`defaultPwdChgd` false);
    /// `None`: the flow's own code.
    pub first_time: Option<String>,
}

impl Default for SmsCodes {
    /// DIGIT core's codes.
    fn default() -> Self {
        Self {
            register: "sms.register.otp.msg".into(),
            login: "sms.login.otp.msg".into(),
            password_reset: "sms.pwd.reset.otp.msg".into(),
            first_time: None,
        }
    }
}

impl SmsCodes {
    fn all(&self) -> impl Iterator<Item = &str> {
        [&self.register, &self.login, &self.password_reset]
            .into_iter()
            .chain(&self.first_time)
            .map(String::as_str)
    }
}

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The SMS of a purpose.
    Sms(Purpose),
    /// The SMS of a login or reset for a user who still has the password an admin set.
    SmsFirstTime(Purpose),
    /// The e-mail subject of a purpose.
    EmailSubject(Purpose),
    /// The e-mail body of a purpose.
    EmailBody(Purpose),
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
    /// An SMS code of the configuration with no text: neither built in nor in the default catalog.
    #[error("sms code {0:?} has no text in the default locale's catalog")]
    NoText(String),
}

/// Catalogs by locale.
#[derive(Debug, Clone)]
pub struct MessageCatalogs {
    locales: BTreeMap<String, BTreeMap<String, String>>,
    default_locale: String,
    sms: SmsCodes,
}

/// Whether `code` is one a catalog may hold: built in, or an SMS code of the configuration.
pub fn is_known_code(code: &str, sms: &SmsCodes) -> bool {
    BUILT_IN.iter().any(|(c, _)| *c == code) || sms.all().any(|c| c == code)
}

/// Whether `text` can stand for `code`: subjects need nothing, every other text a place for the OTP.
pub fn has_placeholder(code: &str, text: &str) -> bool {
    code.ends_with(".sub") || text.contains("%s") || text.contains("{otp}")
}

impl MessageCatalogs {
    /// Checks and keeps `locales` (locale → code → template), each flow's SMS under its code of `sms`.
    pub fn new(
        locales: BTreeMap<String, BTreeMap<String, String>>,
        default_locale: &str,
        sms: SmsCodes,
    ) -> Result<Self, CatalogError> {
        let Some(defaults) = locales.get(default_locale) else {
            return Err(CatalogError::NoDefault(default_locale.to_owned()));
        };
        for code in sms.all() {
            if !BUILT_IN.iter().any(|(c, _)| *c == code) && !defaults.contains_key(code) {
                return Err(CatalogError::NoText(code.to_owned()));
            }
        }
        for (locale, codes) in &locales {
            for (code, text) in codes {
                if !is_known_code(code, &sms) {
                    return Err(CatalogError::UnknownCode {
                        locale: locale.clone(),
                        code: code.clone(),
                    });
                }
                if !has_placeholder(code, text) {
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
            sms,
        })
    }

    /// The localisation code of `template`. Codes created by other services (`Direct`) are never sent by
    /// us; they use the login texts should one ever be rendered.
    pub fn code(&self, template: Template) -> &str {
        match template {
            Template::Sms(Purpose::Register) => &self.sms.register,
            Template::Sms(Purpose::Login | Purpose::Direct) => &self.sms.login,
            Template::Sms(Purpose::PasswordReset) => &self.sms.password_reset,
            Template::SmsFirstTime(purpose) => match &self.sms.first_time {
                Some(code) => code,
                None => self.code(Template::Sms(purpose)),
            },
            Template::EmailSubject(Purpose::PasswordReset) => "email.pwd.reset.otp.sub",
            Template::EmailSubject(_) => "email.login.otp.sub",
            Template::EmailBody(Purpose::PasswordReset) => "email.pwd.reset.otp.body",
            Template::EmailBody(_) => "email.login.otp.body",
        }
    }

    /// The locales with a catalog.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locales.keys().map(String::as_str)
    }

    /// The text of `template` in `locale` (or the default), with `otp` in place of the placeholders.
    pub fn render(&self, locale: Option<&str>, template: Template, otp: &str) -> String {
        let code = self.code(template);
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
                    .expect("a code is built in or in the default catalog (checked in new)")
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
        MessageCatalogs::new(locales, "en_IN", SmsCodes::default()).unwrap()
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
            MessageCatalogs::new(typo, "en_IN", SmsCodes::default()),
            Err(CatalogError::UnknownCode { .. })
        ));
        let blind = BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([("sms.login.otp.msg".to_owned(), "no code".to_owned())]),
        )]);
        assert!(matches!(
            MessageCatalogs::new(blind, "en_IN", SmsCodes::default()),
            Err(CatalogError::NoPlaceholder { .. })
        ));
        assert!(matches!(
            MessageCatalogs::new(BTreeMap::new(), "en_IN", SmsCodes::default()),
            Err(CatalogError::NoDefault(_))
        ));
    }

    /// mGramSeva's choice of codes.
    fn mgramseva() -> SmsCodes {
        SmsCodes {
            password_reset: "RESET_PASSWORD_OTP".into(),
            first_time: Some("RESET_PASSWORD_FIRST_TIME_OTP".into()),
            ..SmsCodes::default()
        }
    }

    #[test]
    fn each_flow_sends_the_code_configured_for_it() {
        let en = BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([(
                "RESET_PASSWORD_FIRST_TIME_OTP".to_owned(),
                "Set your NalJal password with {otp}".to_owned(),
            )]),
        )]);
        let c = MessageCatalogs::new(en.clone(), "en_IN", mgramseva()).unwrap();
        assert_eq!(
            c.render(None, Template::Sms(Purpose::PasswordReset), "1"),
            "OTP to reset password on NalJal is 1"
        );
        assert_eq!(
            c.render(None, Template::SmsFirstTime(Purpose::PasswordReset), "2"),
            "Set your NalJal password with 2"
        );
        assert_eq!(
            c.code(Template::SmsFirstTime(Purpose::Login)),
            "RESET_PASSWORD_FIRST_TIME_OTP"
        );
        assert_eq!(c.code(Template::Sms(Purpose::Login)), "sms.login.otp.msg");
        let core = MessageCatalogs::new(en, "en_IN", SmsCodes::default()).unwrap();
        assert_eq!(
            core.code(Template::SmsFirstTime(Purpose::PasswordReset)),
            "sms.pwd.reset.otp.msg",
            "no first-time code: the flow's own"
        );
    }

    #[test]
    fn a_code_of_the_states_own_needs_a_text_in_the_default_catalog() {
        let dlt = SmsCodes {
            login: "PB_LOGIN_OTP_DLT_1107".into(),
            ..SmsCodes::default()
        };
        let without = BTreeMap::from([("en_IN".to_owned(), BTreeMap::new())]);
        assert_eq!(
            MessageCatalogs::new(without, "en_IN", dlt.clone()).unwrap_err(),
            CatalogError::NoText("PB_LOGIN_OTP_DLT_1107".into())
        );
        let with = BTreeMap::from([(
            "en_IN".to_owned(),
            BTreeMap::from([(
                "PB_LOGIN_OTP_DLT_1107".to_owned(),
                "{otp} is your mSeva login OTP".to_owned(),
            )]),
        )]);
        let c = MessageCatalogs::new(with, "en_IN", dlt).unwrap();
        assert_eq!(
            c.render(Some("hi_IN"), Template::Sms(Purpose::Login), "3"),
            "3 is your mSeva login OTP"
        );
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
        let c = MessageCatalogs::new(locales.clone(), "en_IN", SmsCodes::default()).unwrap();
        assert_eq!(
            c.render(Some("en_IN"), Template::Sms(Purpose::PasswordReset), "9"),
            "Dear Citizen, Your OTP for recovering password is 9."
        );
        assert!(
            c.render(Some("hi_IN"), Template::Sms(Purpose::Login), "9")
                .contains('9')
        );
        let m = MessageCatalogs::new(locales, "en_IN", mgramseva()).unwrap();
        assert_eq!(
            m.render(Some("hi_IN"), Template::Sms(Purpose::PasswordReset), "9"),
            "OTP to reset password on NalJal is 9",
            "shipped in en_IN, the fallback of every locale"
        );
    }
}
