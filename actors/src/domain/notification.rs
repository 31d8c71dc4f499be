//! A notification in our terms — who gets which words on which channel. The outbox stores it; a sink
//! renders it to the JSON DIGIT's notification services consume ([`Notification::to_digit_json`]).

use serde::{Deserialize, Serialize};

/// Which channel a notification goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMS topic.
    Sms,
    /// E-mail topic.
    Email,
}

impl Channel {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
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
    /// An OTP e-mail.
    Email {
        /// The address.
        to: String,
        /// Subject line.
        subject: String,
        /// Body, code included.
        body: String,
    },
}

impl Notification {
    /// Its channel.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Sms { .. } => Channel::Sms,
            Self::Email { .. } => Channel::Email,
        }
    }

    /// The message key on the topic: the mobile number or the e-mail address.
    pub fn key(&self) -> &str {
        match self {
            Self::Sms { mobile, .. } => mobile,
            Self::Email { to, .. } => to,
        }
    }

    /// The words that carry the code: the SMS text or the e-mail body.
    pub fn text(&self) -> &str {
        match self {
            Self::Sms { message, .. } => message,
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
}
