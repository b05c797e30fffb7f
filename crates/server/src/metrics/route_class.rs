//! The label values of a request: its route class and its status class,
//! each an index into the counters made for every combination at start.

use sbp_core::route::{Route, Service};

/// What kind of request it was, for `route="..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteClass {
    /// The proxy's own `/edge/v1` session endpoints, health and keys.
    Edge,
    /// The OAuth / SSO and email-link flows (`/edge/v1/authorize`, `callback`, `confirm`).
    RedirectFlow,
    /// The Auth hook (`/edge/v1/hooks/auth`).
    Hook,
    /// Auth calls whose token response creates a session, and MFA verify.
    SignIn,
    /// The client's refresh grant, answered from the session.
    RefreshGrant,
    /// `/auth/v1/user` and logout.
    Account,
    /// Other Auth calls, forwarded.
    Auth,
    Rest,
    Storage,
    Functions,
    Graphql,
    /// The Realtime socket and Realtime's HTTP API.
    Realtime,
    /// The app behind the proxy (`PROXY_APP_URL`).
    App,
    /// CORS preflights answered by the proxy.
    Preflight,
    /// Not found, wrong method, dot segments.
    Other,
}

impl RouteClass {
    pub const ALL: [RouteClass; 15] = [
        RouteClass::Edge,
        RouteClass::RedirectFlow,
        RouteClass::Hook,
        RouteClass::SignIn,
        RouteClass::RefreshGrant,
        RouteClass::Account,
        RouteClass::Auth,
        RouteClass::Rest,
        RouteClass::Storage,
        RouteClass::Functions,
        RouteClass::Graphql,
        RouteClass::Realtime,
        RouteClass::App,
        RouteClass::Preflight,
        RouteClass::Other,
    ];

    pub fn of(route: &Route) -> RouteClass {
        match route {
            Route::Session
            | Route::Sessions
            | Route::RevokeSession(_)
            | Route::Health
            | Route::Jwks => RouteClass::Edge,
            Route::Authorize | Route::Callback | Route::Confirm => RouteClass::RedirectFlow,
            Route::AuthHook => RouteClass::Hook,
            Route::SignIn | Route::MfaVerify => RouteClass::SignIn,
            Route::RefreshGrant => RouteClass::RefreshGrant,
            Route::User | Route::Logout(_) => RouteClass::Account,
            Route::RealtimeSocket | Route::Forward(Service::Realtime) => RouteClass::Realtime,
            Route::Forward(Service::Auth) => RouteClass::Auth,
            Route::Forward(Service::Rest) => RouteClass::Rest,
            Route::Forward(Service::Storage) => RouteClass::Storage,
            Route::Forward(Service::Functions) => RouteClass::Functions,
            Route::Forward(Service::Graphql) => RouteClass::Graphql,
            Route::App => RouteClass::App,
            Route::MethodNotAllowed | Route::DotSegments | Route::NotFound => RouteClass::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RouteClass::Edge => "edge",
            RouteClass::RedirectFlow => "redirect_flow",
            RouteClass::Hook => "hook",
            RouteClass::SignIn => "sign_in",
            RouteClass::RefreshGrant => "refresh_grant",
            RouteClass::Account => "account",
            RouteClass::Auth => "auth",
            RouteClass::Rest => "rest",
            RouteClass::Storage => "storage",
            RouteClass::Functions => "functions",
            RouteClass::Graphql => "graphql",
            RouteClass::Realtime => "realtime",
            RouteClass::App => "app",
            RouteClass::Preflight => "preflight",
            RouteClass::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// `status="1xx"` to `"5xx"`.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in [`STATUS_CLASSES`] of an HTTP status (100 to 599).
pub fn status_index(status: http::StatusCode) -> usize {
    (usize::from(status.as_u16() / 100)).clamp(1, 5) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_sits_at_its_own_index() {
        for (i, class) in RouteClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), i, "{class:?}");
        }
    }

    #[test]
    fn status_classes_by_first_digit() {
        let index = |code| status_index(http::StatusCode::from_u16(code).unwrap());
        assert_eq!(STATUS_CLASSES[index(101)], "1xx");
        assert_eq!(STATUS_CLASSES[index(204)], "2xx");
        assert_eq!(STATUS_CLASSES[index(303)], "3xx");
        assert_eq!(STATUS_CLASSES[index(429)], "4xx");
        assert_eq!(STATUS_CLASSES[index(599)], "5xx");
    }
}
