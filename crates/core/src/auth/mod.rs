//! Auth interception: turning Auth's token responses into sessions and
//! placeholder bodies, and answering in Auth's own error shapes.

mod answer;
mod continued;
mod errors;
mod intercept;
mod refusal;
mod scrub;

pub use answer::{BrowserBody, Unreadable, browser_body, carries_token, upstream_cookie_allowed};
pub use continued::{continued_session, continues};
pub use errors::{AuthError, wants_versioned_errors};
pub use intercept::{SignIn, browser_token_response, read_token_response};
pub use refusal::{Kept, RefreshAnswer, SESSION_ENDING_CODES, read_refresh_answer, session_gone};
pub use scrub::{SECRET_FIELDS, scrub_json, scrub_location};
