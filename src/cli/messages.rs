//! `admin messages import`: a state's SMS and e-mail templates from egov-localization into the message
//! catalogs (`<dir>/<locale>.toml`).
//!
//! It reads what DIGIT deployments hold their messages in — the answer of
//! `/localization/messages/v1/_search` (`{"messages": [{code, message, module, locale}]}`), an `_upsert` body
//! (`{"tenantId", "messages": [...]}`) or a seed file (a bare array of messages) — keeps the codes digit-user
//! sends (DIGIT's, mGramSeva's and those `otp.sms_codes` names), and merges them into the catalogs of the
//! directory, one file per locale. The directory as it would be afterwards is checked as the service will
//! load it (the default locale present, every text with a place for the OTP); if it would not load, nothing
//! is written. Each file is replaced whole in one rename, so a crash leaves the old file or the new one.

use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actors::domain::messages::{
    MessageCatalogs, SmsCodes, has_placeholder, is_known_code, locale_from_msg_id,
};
use serde::Deserialize;

use crate::config::read_catalog_dir;

/// Catalogs: locale → code → text.
pub type Catalogs = BTreeMap<String, BTreeMap<String, String>>;

/// One message of egov-localization.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Localisation code.
    pub code: String,
    /// Text.
    pub message: String,
    /// Module (`egov-user`, `mgramseva-common`, …).
    #[serde(default)]
    pub module: Option<String>,
    /// Locale (`en_IN`).
    #[serde(default)]
    pub locale: Option<String>,
}

/// Why an import was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not one of egov-localization's shapes.
    #[error(
        "{0} is not egov-localization JSON ({1}); expected {{\"messages\": [...]}} or [...] of {{code, message, module, locale}}"
    )]
    Shape(String, String),
    /// A message names no locale and none was given.
    #[error("message {0:?} names no locale: pass --locale")]
    NoLocale(String),
    /// A locale that is not letters, digits, `_` and `-`.
    #[error("locale {0:?} is not a locale such as en_IN")]
    BadLocale(String),
    /// A kept text has no `%s` or `{{otp}}`: its SMS would carry no code.
    #[error("{locale} {code}: the text has no %s or {{otp}} for the OTP")]
    NoPlaceholder {
        /// Locale.
        locale: String,
        /// Code.
        code: String,
    },
    /// The directory would not load after the import.
    #[error("{dir} would not load after the import: {reason}")]
    Invalid {
        /// The directory.
        dir: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Reads egov-localization's messages from the bytes of `file` (named for errors).
pub fn parse(file: &str, bytes: &[u8]) -> Result<Vec<Message>, ImportError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Wrapped { messages: Vec<Message> },
        Bare(Vec<Message>),
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape::Wrapped { messages } | Shape::Bare(messages)) => Ok(messages),
        Err(e) => Err(ImportError::Shape(file.to_owned(), e.to_string())),
    }
}

/// What an import changes in one locale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocaleChange {
    /// Codes that were not in the catalog.
    pub added: usize,
    /// Codes whose text changed.
    pub changed: usize,
    /// Codes imported with the text they already had.
    pub unchanged: usize,
}

/// An import worked out, not yet written.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The catalogs of the directory afterwards.
    pub catalogs: Catalogs,
    /// Per locale, what changes.
    pub changes: BTreeMap<String, LocaleChange>,
    /// Codes left out: digit-user never sends them.
    pub unused: Vec<String>,
    /// Messages left out by the module filter.
    pub other_modules: usize,
}

/// Merges `messages` into `existing`: codes digit-user sends (built in or named by `sms`), of `modules` when
/// any are given, under each message's locale (or `locale`).
pub fn plan(
    messages: Vec<Message>,
    existing: Catalogs,
    sms: &SmsCodes,
    modules: &[String],
    locale: Option<&str>,
) -> Result<Plan, ImportError> {
    let mut plan = Plan {
        catalogs: existing,
        ..Plan::default()
    };
    for m in messages {
        if !modules.is_empty()
            && !m
                .module
                .as_ref()
                .is_some_and(|module| modules.contains(module))
        {
            plan.other_modules += 1;
            continue;
        }
        let code = m.code.trim().to_owned();
        if !is_known_code(&code, sms) {
            plan.unused.push(code);
            continue;
        }
        let Some(loc) = m.locale.as_deref().or(locale).map(str::trim) else {
            return Err(ImportError::NoLocale(code));
        };
        // the locale names a file: only what a msgId may carry (`en_IN`), never a path
        if locale_from_msg_id(&format!("|{loc}")) != Some(loc) {
            return Err(ImportError::BadLocale(loc.to_owned()));
        }
        if !has_placeholder(&code, &m.message) {
            return Err(ImportError::NoPlaceholder {
                locale: loc.to_owned(),
                code,
            });
        }
        let change = plan.changes.entry(loc.to_owned()).or_default();
        let catalog = plan.catalogs.entry(loc.to_owned()).or_default();
        match catalog.insert(code, m.message.clone()) {
            None => change.added += 1,
            Some(old) if old == m.message => change.unchanged += 1,
            Some(_) => change.changed += 1,
        }
    }
    plan.unused.sort();
    plan.unused.dedup();
    Ok(plan)
}

/// Checks that `plan` leaves `dir` loadable with `default_locale` and `sms`, then writes the locales it
/// touched. Returns the files written.
pub fn write(
    dir: &Path,
    plan: &Plan,
    default_locale: &str,
    sms: &SmsCodes,
) -> Result<Vec<PathBuf>, ImportError> {
    MessageCatalogs::new(plan.catalogs.clone(), default_locale, sms.clone()).map_err(|e| {
        ImportError::Invalid {
            dir: dir.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let io = |path: &Path, e| ImportError::Io(path.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut written = Vec::new();
    for locale in plan.changes.keys() {
        let path = dir.join(format!("{locale}.toml"));
        let body = toml::to_string(&plan.catalogs[locale]).expect("strings serialise");
        let text = format!(
            "# OTP message templates for locale {locale}, merged by `digit-user admin messages import`.\n\
             # The OTP replaces `%s` or `{{otp}}`. Edits are kept by later imports; comments are not.\n{body}"
        );
        let tmp = dir.join(format!(".{locale}.toml.tmp"));
        let write_synced = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()
        };
        write_synced().map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    // the renames themselves survive a crash once the directory is on disk
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))?;
    Ok(written)
}

/// The whole command: read `file`, merge into `dir`, write; the summary for the terminal.
pub fn import(
    file: &Path,
    dir: &Path,
    modules: &[String],
    locale: Option<&str>,
    settings: &crate::config::Settings,
) -> anyhow::Result<String> {
    let shown = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| shown.clone())?;
    let messages = parse(&shown, &bytes)?;
    let existing = if dir.exists() {
        read_catalog_dir(dir)?
    } else {
        Catalogs::new()
    };
    let sms = settings.sms_codes();
    let plan = plan(messages, existing, &sms, modules, locale)?;
    if plan.changes.is_empty() {
        bail!(
            "{shown}: no message digit-user sends ({} other codes, {} of other modules); nothing written",
            plan.unused.len(),
            plan.other_modules
        );
    }
    let written = write(dir, &plan, &settings.otp.locale, &sms)?;
    let mut lines: Vec<String> = plan
        .changes
        .iter()
        .zip(&written)
        .map(|((locale, c), path)| {
            format!(
                "{locale}: {} added, {} changed, {} unchanged -> {}",
                c.added,
                c.changed,
                c.unchanged,
                path.display()
            )
        })
        .collect();
    if !plan.unused.is_empty() {
        lines.push(format!(
            "left out {} codes digit-user does not send (e.g. {})",
            plan.unused.len(),
            plan.unused
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if settings.otp.messages_dir.trim().is_empty() {
        lines.push(format!(
            "note: the service reads these files when otp.messages_dir = {:?}; otherwise it uses the catalogs \
             compiled in from config/messages",
            dir.display().to_string()
        ));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(code: &str, text: &str, module: &str, locale: &str) -> Message {
        Message {
            code: code.into(),
            message: text.into(),
            module: Some(module.into()),
            locale: Some(locale.into()),
        }
    }

    #[test]
    fn the_three_shapes_of_egov_localization_read_alike() {
        let one = r#"{"code": "sms.login.otp.msg", "message": "Login OTP %s", "module": "egov-user", "locale": "en_IN"}"#;
        let search = format!(r#"{{"messages": [{one}]}}"#);
        let upsert = format!(r#"{{"RequestInfo": {{}}, "tenantId": "pb", "messages": [{one}]}}"#);
        let seed = format!("[{one}]");
        for text in [search, upsert, seed] {
            let read = parse("f.json", text.as_bytes()).unwrap();
            assert_eq!(
                read,
                [msg(
                    "sms.login.otp.msg",
                    "Login OTP %s",
                    "egov-user",
                    "en_IN"
                )]
            );
        }
        let err = parse("f.json", br#"{"msg": []}"#).unwrap_err().to_string();
        assert!(
            err.starts_with("f.json is not egov-localization JSON"),
            "{err}"
        );
    }

    #[test]
    fn only_codes_digit_user_sends_are_merged_and_counted() {
        let existing = Catalogs::from([(
            "en_IN".to_owned(),
            BTreeMap::from([
                ("sms.login.otp.msg".to_owned(), "Old %s".to_owned()),
                ("sms.register.otp.msg".to_owned(), "Reg %s".to_owned()),
            ]),
        )]);
        let messages = vec![
            msg("sms.login.otp.msg", "New %s", "egov-user", "en_IN"),
            msg("sms.register.otp.msg", "Reg %s", "egov-user", "en_IN"),
            msg(
                "RESET_PASSWORD_OTP",
                "रीसेट {otp}",
                "mgramseva-common",
                "hi_IN",
            ),
            msg("CS_COMMON_SUBMIT", "Submit", "rainmaker-common", "en_IN"),
        ];
        let p = plan(messages.clone(), existing, &SmsCodes::default(), &[], None).unwrap();
        assert_eq!(
            p.changes["en_IN"],
            LocaleChange {
                added: 0,
                changed: 1,
                unchanged: 1
            }
        );
        assert_eq!(p.changes["hi_IN"].added, 1);
        assert_eq!(p.catalogs["en_IN"]["sms.login.otp.msg"], "New %s");
        assert_eq!(p.unused, ["CS_COMMON_SUBMIT"]);

        let only = plan(
            messages,
            Catalogs::new(),
            &SmsCodes::default(),
            &["mgramseva-common".to_owned()],
            None,
        )
        .unwrap();
        assert_eq!(only.changes.keys().collect::<Vec<_>>(), ["hi_IN"]);
        assert_eq!(only.other_modules, 3);
    }

    #[test]
    fn a_text_without_a_place_for_the_otp_or_a_locale_is_refused() {
        let blind = vec![msg("sms.login.otp.msg", "Your OTP", "egov-user", "en_IN")];
        assert!(matches!(
            plan(blind, Catalogs::new(), &SmsCodes::default(), &[], None),
            Err(ImportError::NoPlaceholder { .. })
        ));
        let mut nowhere = msg("sms.login.otp.msg", "%s", "egov-user", "en_IN");
        nowhere.locale = None;
        assert!(matches!(
            plan(
                vec![nowhere.clone()],
                Catalogs::new(),
                &SmsCodes::default(),
                &[],
                None
            ),
            Err(ImportError::NoLocale(_))
        ));
        let p = plan(
            vec![nowhere],
            Catalogs::new(),
            &SmsCodes::default(),
            &[],
            Some("pa_IN"),
        )
        .unwrap();
        assert_eq!(p.catalogs["pa_IN"]["sms.login.otp.msg"], "%s");
        let escape = vec![msg(
            "sms.login.otp.msg",
            "%s",
            "egov-user",
            "../../etc/cron",
        )];
        assert!(matches!(
            plan(escape, Catalogs::new(), &SmsCodes::default(), &[], None),
            Err(ImportError::BadLocale(_))
        ));
    }

    #[test]
    fn a_directory_that_would_not_load_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(
            vec![msg(
                "sms.login.otp.msg",
                "लॉगिन {otp}",
                "egov-user",
                "hi_IN",
            )],
            Catalogs::new(),
            &SmsCodes::default(),
            &[],
            None,
        )
        .unwrap();
        let err = write(dir.path(), &p, "en_IN", &SmsCodes::default()).unwrap_err();
        assert!(err.to_string().contains("en_IN"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
