//! A notification in our terms — who gets which words on which channel. The outbox stores it; a sink
//! renders it to the JSON DIGIT's notification services consume ([`Notification::to_digit_json`]).

use serde::{Deserialize, Serialize};

use super::UserRecord;

/// Which channel a notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMS topic.
    Sms,
    /// E-mail topic.
    Email,
    /// The topic of SMS that carry no code (notification-sms's general topic).
    Notice,
}

impl Channel {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
            Self::Notice => "notice",
        }
    }
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
pub enum Notification {
    /// An OTP SMS.
    Sms {
        /// The mobile number.
        mobile: String,
        /// The text, code included.
        message: String,
        /// The country code, when the request gave one.
        country_code: Option<String>,
    },
    /// An e-mail (an OTP, or a notice).
    Email {
        /// The address.
        to: String,
        /// Subject line.
        subject: String,
        /// Body, code included.
        body: String,
    },
    /// An SMS that carries no code (the notice of a changed e-mail address).
    Notice {
        /// The mobile number.
        mobile: String,
        /// The text.
        message: String,
    },
}

impl Notification {
    /// Its channel.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Sms { .. } => Channel::Sms,
            Self::Email { .. } => Channel::Email,
            Self::Notice { .. } => Channel::Notice,
        }
    }

    /// The message key on the topic: the mobile number or the e-mail address.
    pub fn key(&self) -> &str {
        match self {
            Self::Sms { mobile, .. } | Self::Notice { mobile, .. } => mobile,
            Self::Email { to, .. } => to,
        }
    }

    /// The words: the SMS text or the e-mail body.
    pub fn text(&self) -> &str {
        match self {
            Self::Sms { message, .. } | Self::Notice { message, .. } => message,
            Self::Email { body, .. } => body,
        }
    }

    /// DIGIT's JSON: notification-sms's `SMSRequest` (category `OTP`; `expiryTime` the moment after which
    /// the SMS gateway discards it, epoch ms — set at delivery) or notification-mail's `EmailRequest`.
    pub fn to_digit_json(&self, sms_expiry_time: i64) -> serde_json::Value {
        match self {
            Self::Sms {
                mobile,
                message,
                country_code,
            } => serde_json::json!({
                "mobileNumber": mobile,
                "message": message,
                "category": "OTP",
                "expiryTime": sms_expiry_time,
                "countryCode": country_code,
            }),
            Self::Notice { mobile, message } => serde_json::json!({
                "mobileNumber": mobile,
                "message": message,
            }),
            Self::Email { to, subject, body } => serde_json::json!({
                "requestInfo": {"apiId": null, "ver": null, "ts": null, "action": null, "did": null, "key": null,
                                "msgId": null, "authToken": null, "correlationId": null,
                                "plainAccessRequest": null, "userInfo": null},
                "email": {"emailTo": [to], "subject": subject, "body": body},
            }),
        }
    }

    /// The notification a record written before notifications were typed carried as DIGIT's JSON; `None`
    /// for JSON of neither shape.
    pub fn from_digit_json(channel: Channel, json: &serde_json::Value) -> Option<Self> {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        match channel {
            Channel::Sms => Some(Self::Sms {
                mobile: text(&json["mobileNumber"])?,
                message: text(&json["message"])?,
                country_code: text(&json["countryCode"]),
            }),
            Channel::Email => Some(Self::Email {
                to: text(&json["email"]["emailTo"][0])?,
                subject: text(&json["email"]["subject"])?,
                body: text(&json["email"]["body"])?,
            }),
            Channel::Notice => Some(Self::Notice {
                mobile: text(&json["mobileNumber"])?,
                message: text(&json["message"])?,
            }),
        }
    }
}

/// The words of the notice that a user's e-mail address changed (DIGIT's `EMAIL_UPDATED`), and whether it
/// also goes by SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChangeNotice {
    /// The e-mail's subject.
    pub subject: String,
    /// The text; `{oldEmail}` and `{newEmail}` are replaced.
    pub message: String,
    /// Also an SMS to the user's mobile number.
    pub sms: bool,
}

impl EmailChangeNotice {
    /// The notices of a change from `old` to `new`: an e-mail to the old address and, when configured, an
    /// SMS to the number — when the old address was set and the new one differs (case aside), as DIGIT.
    pub fn of(&self, old: &UserRecord, new: &UserRecord) -> Vec<Notification> {
        let (Some(before), Some(after)) = (
            old.email_id.as_deref().filter(|e| !e.trim().is_empty()),
            new.email_id.as_deref(),
        ) else {
            return Vec::new();
        };
        if before.eq_ignore_ascii_case(after) {
            return Vec::new();
        }
        let text = self
            .message
            .replace("{oldEmail}", before)
            .replace("{newEmail}", after);
        let mut notices = vec![Self::email(before, &self.subject, &text)];
        if let Some(mobile) = old.mobile_number.as_deref().filter(|_| self.sms) {
            notices.push(Notification::Notice {
                mobile: mobile.to_owned(),
                message: text,
            });
        }
        notices
    }

    fn email(to: &str, subject: &str, body: &str) -> Notification {
        Notification::Email {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_renders_as_notification_sms_reads_it_and_reads_back() {
        let sms = Notification::Sms {
            mobile: "9876543210".into(),
            message: "Your OTP is 123456".into(),
            country_code: Some("+91".into()),
        };
        let json = sms.to_digit_json(1_700_000_003_000);
        assert_eq!(
            json,
            serde_json::json!({"mobileNumber": "9876543210", "message": "Your OTP is 123456",
                               "category": "OTP", "expiryTime": 1_700_000_003_000_i64, "countryCode": "+91"})
        );
        assert_eq!(
            Notification::from_digit_json(Channel::Sms, &json),
            Some(sms)
        );
    }

    #[test]
    fn an_email_renders_as_notification_mail_reads_it_and_reads_back() {
        let mail = Notification::Email {
            to: "asha@example.org".into(),
            subject: "Login OTP".into(),
            body: "Your OTP is 123456".into(),
        };
        let json = mail.to_digit_json(0);
        assert_eq!(
            json["email"]["emailTo"],
            serde_json::json!(["asha@example.org"])
        );
        assert!(json["requestInfo"].is_object());
        assert_eq!(mail.key(), "asha@example.org");
        assert_eq!(
            Notification::from_digit_json(Channel::Email, &json),
            Some(mail)
        );
        assert_eq!(
            Notification::from_digit_json(Channel::Email, &serde_json::json!({})),
            None
        );
    }

    #[test]
    fn a_changed_e_mail_is_told_to_the_old_address_and_the_number_once() {
        let notice = EmailChangeNotice {
            subject: "Email Update Notification".into(),
            message: "your e-mail has been updated from {oldEmail} to {newEmail}.".into(),
            sms: true,
        };
        let mut old = crate::testing::user_record(65536, "u-1".into(), "EMP1");
        old.email_id = Some("old@example.org".into());
        let mut new = old.clone();
        new.email_id = Some("new@example.org".into());
        let text = "your e-mail has been updated from old@example.org to new@example.org.";
        assert_eq!(
            notice.of(&old, &new),
            vec![
                Notification::Email {
                    to: "old@example.org".into(),
                    subject: "Email Update Notification".into(),
                    body: text.into()
                },
                Notification::Notice {
                    mobile: "9876543210".into(),
                    message: text.into()
                }
            ]
        );
        let json = notice.of(&old, &new)[1].to_digit_json(0);
        assert_eq!(
            json,
            serde_json::json!({"mobileNumber": "9876543210", "message": text})
        );
        new.email_id = Some("OLD@example.org".into());
        assert!(
            notice.of(&old, &new).is_empty(),
            "the same address, case aside"
        );
        new.email_id = None;
        assert!(notice.of(&old, &new).is_empty(), "no new address");
        old.email_id = None;
        new.email_id = Some("new@example.org".into());
        assert!(notice.of(&old, &new).is_empty(), "no old address to tell");
        let quiet = EmailChangeNotice {
            sms: false,
            ..notice
        };
        old.email_id = Some("old@example.org".into());
        assert_eq!(quiet.of(&old, &new).len(), 1, "the e-mail only");
    }
}
