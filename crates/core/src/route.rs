//! Route classification: the first stage of the request pipeline.
//!
//! A request path is accepted at the root and under the base path of
//! `PROXY_PUBLIC_URL`. [`classify`] strips that base path and says what the
//! proxy does with the request: answer it locally, intercept it on its way to
//! Auth, or forward it.

use http::Method;

/// The Supabase service a forwarded request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Auth,
    Rest,
    Storage,
    Functions,
    Graphql,
    Realtime,
}

/// Which `/auth/v1/logout` scope was asked for (Auth's default is global).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    Global,
    Local,
    Others,
}

/// What the proxy does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /edge/v1/session`
    Session,
    /// `GET /edge/v1/sessions`
    Sessions,
    /// `DELETE /edge/v1/sessions/{id}`
    RevokeSession(String),
    /// `GET /edge/v1/health`
    Health,
    /// `GET /edge/v1/.well-known/jwks.json`: public keys of mint mode and
    /// of the app's identity header.
    Jwks,
    /// `GET /edge/v1/authorize`: starts an OAuth or SSO sign-in (server-side PKCE).
    Authorize,
    /// `GET /edge/v1/callback`: Auth comes back with the code.
    Callback,
    /// `GET /edge/v1/confirm`: an email link (token hash) becomes a session.
    Confirm,
    /// `POST /edge/v1/hooks/auth`: a signed Database Webhook call about
    /// `auth.users` or `auth.sessions` (server to server, no session).
    AuthHook,
    /// A call to Auth whose token response creates a session.
    SignIn,
    /// `POST /auth/v1/factors/{id}/verify`: an MFA verification, whose
    /// aal2 tokens replace the current session's in place.
    MfaVerify,
    /// `POST /auth/v1/token?grant_type=refresh_token`, answered from the session.
    RefreshGrant,
    /// `GET`/`PUT /auth/v1/user`: needs a session.
    User,
    /// `POST /auth/v1/logout`
    Logout(LogoutScope),
    /// `GET /realtime/v1/websocket`: a Realtime socket, relayed frame by frame.
    RealtimeSocket,
    /// Anything else for a Supabase service.
    Forward(Service),
    /// Not a Supabase path nor `/edge/v1`: the app behind the proxy's
    /// (`PROXY_APP_URL`), or not found without one.
    App,
    /// A proxy endpoint called with the wrong method.
    MethodNotAllowed,
    /// A path with `.` or `..` segments (plain or percent-encoded), which
    /// Supabase's gateway could resolve to another service than the proxy
    /// classified: refused.
    DotSegments,
    /// Not a path the proxy serves.
    NotFound,
}

/// A classified request: its route and its path relative to the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    pub route: Route,
    pub path: &'a str,
}

/// Value of the first query parameter called `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Strips `base_path` (e.g. `/supabase`) when the path is under it.
pub fn strip_base<'a>(path: &'a str, base_path: &str) -> &'a str {
    if base_path.is_empty() {
        return path;
    }
    match path.strip_prefix(base_path) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

fn service_of(path: &str) -> Option<Service> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    [
        ("/auth/v1", Service::Auth),
        ("/rest/v1", Service::Rest),
        ("/storage/v1", Service::Storage),
        ("/functions/v1", Service::Functions),
        ("/graphql/v1", Service::Graphql),
        ("/realtime/v1", Service::Realtime),
    ]
    .into_iter()
    .find(|(prefix, _)| under(prefix))
    .map(|(_, service)| service)
}

fn edge_route(method: &Method, rest: &str) -> Route {
    let expect = |wanted: Method, route: Route| {
        if *method == wanted {
            route
        } else {
            Route::MethodNotAllowed
        }
    };
    match rest {
        "session" => expect(Method::GET, Route::Session),
        "sessions" => expect(Method::GET, Route::Sessions),
        "health" => expect(Method::GET, Route::Health),
        ".well-known/jwks.json" => expect(Method::GET, Route::Jwks),
        "authorize" => expect(Method::GET, Route::Authorize),
        "callback" => expect(Method::GET, Route::Callback),
        "confirm" => expect(Method::GET, Route::Confirm),
        "hooks/auth" => expect(Method::POST, Route::AuthHook),
        _ => match rest.strip_prefix("sessions/") {
            Some(id) if !id.is_empty() && !id.contains('/') => {
                expect(Method::DELETE, Route::RevokeSession(id.to_string()))
            }
            _ => Route::NotFound,
        },
    }
}

/// Auth's paths that GoTrue mounts with chi's `Route`, so that the same
/// path with one trailing slash reaches the same handler.
const MOUNTED: &[&str] = &[
    "/signup",
    "/verify",
    "/callback",
    "/user",
    "/reauthenticate",
    "/factors",
];

/// An Auth path (relative to `/auth/v1`) as GoTrue's router sees it: the
/// spellings that reach one handler made one.
pub fn auth_endpoint(rest: &str) -> &str {
    match rest.strip_suffix('/') {
        Some(mounted) if MOUNTED.contains(&mounted) => mounted,
        _ => rest,
    }
}

/// Whether `rest` is `/factors/{id}/<action>`.
fn is_factor_action(rest: &str, action: &str) -> bool {
    rest.strip_prefix("/factors/")
        .and_then(|r| r.strip_suffix(action))
        .and_then(|id| id.strip_suffix('/'))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

fn auth_route(method: &Method, rest: &str, query: Option<&str>) -> Route {
    let rest = auth_endpoint(rest);
    match (method, rest) {
        (&Method::POST, "/token") => match query_param(query, "grant_type").as_deref() {
            Some("refresh_token") => Route::RefreshGrant,
            _ => Route::SignIn,
        },
        (&Method::POST, "/signup" | "/verify" | "/passkeys/authentication/verify") => Route::SignIn,
        (&Method::POST, _) if is_factor_action(rest, "verify") => Route::MfaVerify,
        (&Method::GET | &Method::PUT, "/user") => Route::User,
        (&Method::POST, "/logout") => Route::Logout(match query_param(query, "scope").as_deref() {
            Some("local") => LogoutScope::Local,
            Some("others") => LogoutScope::Others,
            _ => LogoutScope::Global,
        }),
        _ => Route::Forward(Service::Auth),
    }
}

/// Whether a call (path relative to the project root) takes a secret or
/// sends a message, and so is rate limited per client: every token grant
/// that reaches Auth, sign-up, OTP, magic link, recovery, resending, reauthentication,
/// verification, MFA challenges and verifications, passkey sign-in and SSO.
pub fn takes_secrets(path: &str, query: Option<&str>) -> bool {
    // The redirect flows call `/sso`, `/token` and `/verify` for the browser.
    if matches!(
        path,
        "/edge/v1/authorize" | "/edge/v1/callback" | "/edge/v1/confirm"
    ) {
        return true;
    }
    let Some(rest) = path.strip_prefix("/auth/v1") else {
        return false;
    };
    match auth_endpoint(rest) {
        "/signup"
        | "/otp"
        | "/magiclink"
        | "/recover"
        | "/resend"
        | "/reauthenticate"
        | "/verify"
        | "/passkeys/authentication/options"
        | "/passkeys/authentication/verify"
        | "/sso"
        | "/sso/saml/acs" => true,
        // Auth reads `grant_type` from the body before the query: every
        // grant that reaches it counts (refresh grants are answered here).
        "/token" => query_param(query, "grant_type").as_deref() != Some("refresh_token"),
        rest => is_factor_action(rest, "verify") || is_factor_action(rest, "challenge"),
    }
}

/// Whether a path has a `.` or `..` segment once dots, slashes and
/// backslashes are percent-decoded (some gateways decode them, and some read
/// a backslash as a slash).
pub fn has_dot_segments(path: &str) -> bool {
    let bytes = path.as_bytes();
    // Most paths have none of the three bytes a dot segment needs. A fold
    // rather than `any`: without the early exit the compiler checks many
    // bytes at a time, and a path is short.
    if !bytes
        .iter()
        .fold(false, |seen, &b| seen | matches!(b, b'.' | b'%' | b'\\'))
    {
        return false;
    }
    // One pass over the path, decoding as it goes (no allocation): the
    // length of the current segment and whether it is all dots.
    let (mut i, mut len, mut dots) = (0, 0usize, true);
    loop {
        let (decoded, width) = match bytes.get(i) {
            None => None,
            Some(b'%') => match bytes.get(i + 1..i + 3) {
                Some(b"2e" | b"2E") => Some((b'.', 3)),
                Some(b"2f" | b"2F" | b"5c" | b"5C") => Some((b'/', 3)),
                _ => Some((b'%', 1)),
            },
            Some(b'\\') => Some((b'/', 1)),
            Some(&b) => Some((b, 1)),
        }
        .map_or((None, 0), |(b, w)| (Some(b), w));
        match decoded {
            None | Some(b'/') => {
                if dots && (len == 1 || len == 2) {
                    return true;
                }
                if decoded.is_none() {
                    return false;
                }
                (len, dots) = (0, true);
            }
            Some(b) => {
                len += 1;
                dots &= b == b'.';
            }
        }
        i += width;
    }
}

/// The path of Realtime's WebSocket endpoint.
const REALTIME_SOCKET: &str = "/realtime/v1/websocket";

/// Classifies a request by method, path and query.
pub fn classify<'a>(
    method: &Method,
    path: &'a str,
    query: Option<&str>,
    base_path: &str,
) -> Classified<'a> {
    if has_dot_segments(path) {
        return Classified {
            route: Route::DotSegments,
            path,
        };
    }
    let path = strip_base(path, base_path);
    let route = if let Some(rest) = path.strip_prefix("/edge/v1/") {
        edge_route(method, rest)
    } else if path == "/edge/v1" {
        Route::NotFound
    } else {
        match service_of(path) {
            Some(Service::Auth) => auth_route(method, &path["/auth/v1".len()..], query),
            Some(Service::Realtime) if *method == Method::GET && path == REALTIME_SOCKET => {
                Route::RealtimeSocket
            }
            Some(service) => Route::Forward(service),
            None => Route::App,
        }
    };
    Classified { route, path }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str, query: Option<&str>) -> Route {
        classify(&method, path, query, "/supabase").route
    }

    #[test]
    fn a_service_is_its_prefix_and_what_is_under_it() {
        for path in ["/functions/v1", "/functions/v1/", "/functions/v1/hello"] {
            assert_eq!(
                route(Method::POST, path, None),
                Route::Forward(Service::Functions),
                "{path}"
            );
        }
        assert_eq!(route(Method::POST, "/functions/v1x", None), Route::App);
        assert_eq!(route(Method::GET, "/rest/v1x/todos", None), Route::App);
    }

    #[test]
    fn edge_endpoints() {
        assert_eq!(route(Method::GET, "/edge/v1/session", None), Route::Session);
        assert_eq!(
            route(Method::GET, "/supabase/edge/v1/sessions", None),
            Route::Sessions
        );
        assert_eq!(
            route(Method::DELETE, "/edge/v1/sessions/abc", None),
            Route::RevokeSession("abc".into())
        );
        assert_eq!(
            route(Method::POST, "/edge/v1/session", None),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(Method::GET, "/edge/v1/sessions/a/b", None),
            Route::NotFound
        );
        assert_eq!(route(Method::GET, "/edge/v1/health", None), Route::Health);
        assert_eq!(
            route(Method::POST, "/supabase/edge/v1/hooks/auth", None),
            Route::AuthHook
        );
        assert_eq!(
            route(Method::GET, "/edge/v1/hooks/auth", None),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(Method::GET, "/edge/v1/.well-known/jwks.json", None),
            Route::Jwks
        );
        assert_eq!(
            route(
                Method::GET,
                "/supabase/edge/v1/authorize",
                Some("provider=github")
            ),
            Route::Authorize
        );
        assert_eq!(
            route(Method::GET, "/edge/v1/callback", None),
            Route::Callback
        );
        assert_eq!(route(Method::GET, "/edge/v1/confirm", None), Route::Confirm);
        assert_eq!(
            route(Method::POST, "/edge/v1/confirm", None),
            Route::MethodNotAllowed
        );
        for flow in [
            "/edge/v1/authorize",
            "/edge/v1/callback",
            "/edge/v1/confirm",
        ] {
            assert!(takes_secrets(flow, None), "{flow}");
        }
    }

    #[test]
    fn auth_interceptions() {
        let token = |grant: &str| route(Method::POST, "/auth/v1/token", Some(grant));
        assert_eq!(token("grant_type=password"), Route::SignIn);
        assert_eq!(token("grant_type=pkce"), Route::SignIn);
        assert_eq!(token("grant_type=id_token"), Route::SignIn);
        assert_eq!(token("grant_type=refresh_token"), Route::RefreshGrant);
        assert_eq!(
            route(Method::POST, "/supabase/auth/v1/signup", None),
            Route::SignIn
        );
        assert_eq!(route(Method::POST, "/auth/v1/verify", None), Route::SignIn);
        assert_eq!(
            route(Method::GET, "/auth/v1/verify", None),
            Route::Forward(Service::Auth)
        );
        assert_eq!(route(Method::PUT, "/auth/v1/user", None), Route::User);
        assert_eq!(
            route(
                Method::POST,
                "/auth/v1/passkeys/authentication/verify",
                None
            ),
            Route::SignIn
        );
        assert_eq!(
            route(Method::POST, "/auth/v1/factors/f1/verify", None),
            Route::MfaVerify
        );
        for not_verify in [
            "/auth/v1/factors//verify",
            "/auth/v1/factors/a/b/verify",
            "/auth/v1/factors/f1/challenge",
        ] {
            assert_eq!(
                route(Method::POST, not_verify, None),
                Route::Forward(Service::Auth),
                "{not_verify}"
            );
        }
        assert_eq!(
            route(Method::POST, "/auth/v1/logout", Some("scope=others")),
            Route::Logout(LogoutScope::Others)
        );
        assert_eq!(
            route(Method::POST, "/auth/v1/logout", None),
            Route::Logout(LogoutScope::Global)
        );
    }

    #[test]
    fn spellings_gotrue_routes_to_one_handler_are_one_route() {
        assert_eq!(route(Method::POST, "/auth/v1/signup/", None), Route::SignIn);
        assert_eq!(
            route(Method::POST, "/supabase/auth/v1/verify/", None),
            Route::SignIn
        );
        assert_eq!(route(Method::GET, "/auth/v1/user/", None), Route::User);
        // Mounted with Post, not Route: a trailing slash is another path.
        assert_eq!(
            route(Method::POST, "/auth/v1/token/", Some("grant_type=password")),
            Route::Forward(Service::Auth)
        );
        assert_eq!(
            route(Method::POST, "/auth/v1/signup//", None),
            Route::Forward(Service::Auth)
        );
        assert!(takes_secrets("/auth/v1/signup/", None));
        assert!(takes_secrets("/auth/v1/verify/", None));
        assert!(takes_secrets("/auth/v1/reauthenticate/", None));
    }

    #[test]
    fn services_and_base_path() {
        let c = classify(&Method::GET, "/supabase/rest/v1/todos", None, "/supabase");
        assert_eq!(c.route, Route::Forward(Service::Rest));
        assert_eq!(c.path, "/rest/v1/todos");
        assert_eq!(
            route(Method::GET, "/rest/v1/todos", None),
            Route::Forward(Service::Rest)
        );
        assert_eq!(
            route(Method::GET, "/graphql/v1", None),
            Route::Forward(Service::Graphql)
        );
        assert_eq!(route(Method::GET, "/rest/v10", None), Route::App);
        assert_eq!(route(Method::GET, "/supabasex/rest/v1", None), Route::App);
        assert_eq!(route(Method::GET, "/", None), Route::App);
        assert_eq!(
            route(Method::GET, "/realtime/v1/websocket", Some("vsn=2.0.0")),
            Route::RealtimeSocket
        );
        assert_eq!(
            route(Method::GET, "/supabase/realtime/v1/websocket", None),
            Route::RealtimeSocket
        );
        assert_eq!(
            route(Method::POST, "/realtime/v1/websocket", None),
            Route::Forward(Service::Realtime)
        );
        assert_eq!(
            route(Method::POST, "/realtime/v1/api/broadcast", None),
            Route::Forward(Service::Realtime)
        );
    }

    #[test]
    fn what_is_neither_supabase_nor_edge_is_the_apps() {
        for path in [
            "/",
            "/about",
            "/supabase",
            "/supabase/",
            "/supabase/dashboard?x=1",
            "/_next/webpack-hmr",
            "/edge",
            "/edge/v10",
        ] {
            assert_eq!(route(Method::POST, path, None), Route::App, "{path}");
        }
        for path in [
            "/edge/v1",
            "/supabase/edge/v1",
            "/edge/v1/",
            "/edge/v1/nothing",
        ] {
            assert_eq!(route(Method::GET, path, None), Route::NotFound, "{path}");
        }
        for path in [
            "/auth/v1/settings",
            "/supabase/rest/v1/todos",
            "/storage/v1",
            "/functions/v1/f",
            "/graphql/v1",
            "/realtime/v1/api",
        ] {
            assert!(
                matches!(route(Method::GET, path, None), Route::Forward(_)),
                "{path}"
            );
        }
        assert_eq!(
            route(Method::GET, "/app/../auth/v1/user", None),
            Route::DotSegments
        );
    }

    #[test]
    fn secret_taking_calls() {
        assert!(takes_secrets("/auth/v1/token", Some("grant_type=password")));
        assert!(takes_secrets("/auth/v1/otp", None));
        assert!(takes_secrets("/auth/v1/verify", Some("token=x")));
        for path in [
            "/auth/v1/resend",
            "/auth/v1/reauthenticate",
            "/auth/v1/factors/f1/verify",
            "/auth/v1/factors/f1/challenge",
            "/auth/v1/passkeys/authentication/verify",
        ] {
            assert!(takes_secrets(path, None), "{path}");
        }
        assert!(!takes_secrets("/auth/v1/factors", None));
        assert!(!takes_secrets("/auth/v1/factors/f1", None));
        assert!(!takes_secrets(
            "/auth/v1/token",
            Some("grant_type=refresh_token")
        ));
        // GoTrue's FormValue reads the grant from a form body first.
        assert!(takes_secrets("/auth/v1/token", None));
        assert!(takes_secrets("/auth/v1/token", Some("grant_type=pkce")));
        assert!(!takes_secrets("/auth/v1/user", None));
        assert!(!takes_secrets("/rest/v1/signup", None));
    }

    #[test]
    fn dot_segments_are_refused() {
        for bad in [
            "/rest/v1/../auth/v1/token",
            "/supabase/..",
            "/rest/v1/%2e%2E/auth/v1/user",
            "/rest/v1/./x",
            "/rest/v1/x\\..\\y",
            "/rest/v1/a%5c..%5cb",
            "/storage/v1/object/..%2f..%2fauth/v1/user",
        ] {
            assert_eq!(route(Method::GET, bad, None), Route::DotSegments, "{bad}");
        }
        assert_eq!(
            route(Method::GET, "/rest/v1/a.b..c", None),
            Route::Forward(Service::Rest)
        );
        assert_eq!(
            route(Method::GET, "/storage/v1/object/b/a%2Fb.txt", None),
            Route::Forward(Service::Storage)
        );
    }

    /// The definition, written the slow way: decode, then split.
    fn dot_segments_by_replacing(path: &str) -> bool {
        path.replace("%2e", ".")
            .replace("%2E", ".")
            .replace("%2f", "/")
            .replace("%2F", "/")
            .replace("%5c", "/")
            .replace("%5C", "/")
            .replace('\\', "/")
            .split('/')
            .any(|segment| segment == "." || segment == "..")
    }

    #[test]
    fn the_one_pass_dot_segment_scan_matches_its_definition() {
        // Every string of up to 5 pieces from an alphabet of the tricky parts.
        let pieces = [
            "/", ".", "%2e", "%2E", "%2f", "%5C", "\\", "%", "%2", "a", "...",
        ];
        let mut paths = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|p| pieces.iter().map(move |piece| format!("{p}{piece}")))
                .collect();
            paths.extend(longer);
            paths.dedup();
        }
        for path in &paths {
            assert_eq!(
                has_dot_segments(path),
                dot_segments_by_replacing(path),
                "{path:?}"
            );
        }
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param(Some("a=1&b=x%20y"), "b").as_deref(),
            Some("x y")
        );
        assert_eq!(query_param(None, "b"), None);
    }
}
