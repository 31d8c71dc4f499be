//! What a send queues: an SMS and, for a login or a password reset of a user with an e-mail address, an
//! e-mail — each in the words of the message catalog of the recipient's locale, carrying the code until the
//! notifier hands it to the sink, which renders it to DIGIT's JSON.

use crate::domain::messages::Template;
use crate::domain::notification::Notification;
use crate::domain::otp::{LiveCode, Purpose};
use crate::store::OutboxRecord;

use super::OtpSession;

/// Who receives the notifications of a send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recipients {
    /// Mobile number the SMS goes to.
    pub mobile: String,
    /// Country code carried in the SMS payload.
    pub country_code: Option<String>,
    /// E-mail address, for login and password reset when the user has one.
    pub email: Option<String>,
    /// Message locale; the catalogs' default when `None`.
    pub locale: Option<String>,
    /// The tenant as the request named it (the topic prefix of a central instance).
    pub tenant: Option<String>,
    /// The user still has the password an admin set (`defaultPwdChgd` false): the SMS is the first-time one.
    pub first_time: bool,
}

impl OtpSession {
    /// The outbox records of a send of `live` (whose code is `code`) to `to`.
    pub(super) fn payloads(
        &self,
        purpose: Purpose,
        code: &str,
        to: &Recipients,
        live: &LiveCode,
    ) -> Vec<OutboxRecord> {
        let now = self.deps.clock.now_ms();
        let render = |t: Template| self.deps.catalogs.render(to.locale.as_deref(), t, code);
        let record = |notification: Notification| OutboxRecord {
            message_id: uuid::Uuid::new_v4().to_string(),
            notification,
            created_ms: now,
            expires_ms: Some(live.expires_ms),
            attempts: 0,
            last_error: None,
            tenant: to.tenant.clone(),
            labels: Some((purpose.as_str().to_owned(), self.tenant_label.to_string())),
        };
        let mut out = vec![record(Notification::Sms {
            mobile: to.mobile.clone(),
            message: render(if to.first_time {
                Template::SmsFirstTime(purpose)
            } else {
                Template::Sms(purpose)
            }),
            country_code: to.country_code.clone(),
        })];
        if let (Some(email), Purpose::Login | Purpose::PasswordReset) = (
            to.email.as_deref().filter(|e| !e.trim().is_empty()),
            purpose,
        ) {
            out.push(record(Notification::Email {
                to: email.to_owned(),
                subject: render(Template::EmailSubject(purpose)),
                body: render(Template::EmailBody(purpose)),
            }));
        }
        out
    }
}
