//! What Auth would mail or text: every one-time password and email link
//! the stub "sends" is kept here, so that tests read it as a user reads
//! their inbox (`GET /__stub/messages`, `Stub::messages`).
//!
//! A mail carries the code and the link of GoTrue's default templates:
//! `{{ .ConfirmationURL }}` is `<API URL>/verify?token=<token hash>&type=<type>&redirect_to=<redirect>`,
//! the token hash prefixed `pkce_` when the request carried a code challenge;
//! a text message, and the reauthentication mail, carry the code only.

use serde::Serialize;

use super::store::{OTP_CODE, link_token_hash};
use crate::clock::rfc3339_now;

/// One mail or text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The address or phone number it went to.
    pub to: String,
    /// GoTrue's template / verification type: `signup`, `magiclink`,
    /// `recovery`, `email_change`, `reauthentication` or `sms`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The one-time password (`{{ .Token }}`).
    pub otp: String,
    /// `{{ .TokenHash }}`: what `POST /verify {token_hash, type}` takes.
    pub token_hash: String,
    /// `{{ .ConfirmationURL }}`, for mails.
    pub link: Option<String>,
    pub sent_at: String,
}

/// Where a message goes and what its link leads back to.
pub(crate) struct Letter<'a> {
    pub to: &'a str,
    pub kind: &'a str,
    /// The project's Auth URL (`<stub>/auth/v1`) that the link points at.
    pub api_url: &'a str,
    /// `redirect_to` of the request, or the Site URL.
    pub redirect_to: &'a str,
    /// The request carried a code challenge: the link's token gets `pkce_`.
    pub pkce: bool,
}

impl Message {
    /// The mail (an address) or text (a phone number) for `letter`.
    pub(crate) fn new(letter: &Letter) -> Message {
        let token_hash = link_token_hash(letter.to);
        // The reauthentication mail carries the code alone.
        let mailed_link = letter.to.contains('@') && letter.kind != "reauthentication";
        let link = mailed_link.then(|| {
            let token = if letter.pkce {
                format!("pkce_{token_hash}")
            } else {
                token_hash.clone()
            };
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", &token)
                .append_pair("type", letter.kind)
                .append_pair("redirect_to", letter.redirect_to)
                .finish();
            format!("{}/verify?{query}", letter.api_url)
        });
        Message {
            to: letter.to.to_ascii_lowercase(),
            kind: letter.kind.to_owned(),
            otp: OTP_CODE.to_owned(),
            token_hash,
            link,
            sent_at: rfc3339_now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_links_to_verify_and_a_text_has_only_the_code() {
        let letter = |to, pkce| Letter {
            to,
            kind: "magiclink",
            api_url: "http://auth.test/auth/v1",
            redirect_to: "http://app.test/cb?x=1",
            pkce,
        };
        let mail = Message::new(&letter("A@Example.com", false));
        assert_eq!(mail.to, "a@example.com");
        assert_eq!(mail.token_hash, link_token_hash("a@example.com"));
        assert_eq!(
            mail.link.as_deref(),
            Some(
                format!(
                    "http://auth.test/auth/v1/verify?token={}&type=magiclink&redirect_to=http%3A%2F%2Fapp.test%2Fcb%3Fx%3D1",
                    mail.token_hash
                )
                .as_str()
            )
        );
        let pkce = Message::new(&letter("a@example.com", true));
        assert!(
            pkce.link
                .unwrap()
                .contains(&format!("token=pkce_{}&", pkce.token_hash))
        );
        let text = Message::new(&letter("+15550001", false));
        assert_eq!((text.link, text.otp.as_str()), (None, OTP_CODE));
    }
}
