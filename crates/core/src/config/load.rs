//! Reading and validating every setting, reporting all problems at once.

use super::limits::load_limits;
use super::rate::parse_rate_limit;
use super::reader::{ConfigProblems, ConfigSource, Reader};
use super::{Config, Origin, PublicUrl, StoreSpec, TokenMode, UpstreamUrl, parse_duration};
use crate::guard::TrustedProxies;
use crate::hooks::HookSecrets;
use crate::identity::IdentityKey;
use crate::session::StoreKeys;
use crate::token::MintKey;
use std::path::PathBuf;
use std::sync::Arc;

/// Every setting the proxy reads, by its environment variable name.
pub const KEYS: &[&str] = &[
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "PROXY_LISTEN",
    "PROXY_ADMIN_LISTEN",
    "PROXY_PUBLIC_URL",
    "PROXY_ALLOWED_ORIGINS",
    "PROXY_TOKEN_MODE",
    "PROXY_SESSION_STORE",
    "PROXY_COOKIE_NAME",
    "PROXY_SESSION_TTL",
    "PROXY_SESSION_IDLE_TTL",
    "PROXY_MINT_TTL",
    "PROXY_REFRESH_MARGIN",
    "PROXY_TRUSTED_PROXIES",
    "PROXY_AUTH_RATE_LIMIT",
    "PROXY_MAX_HEADER_BYTES",
    "PROXY_MAX_HEADERS",
    "PROXY_MAX_URL_BYTES",
    "PROXY_MAX_AUTH_BODY",
    "PROXY_MAX_AUTH_RESPONSE",
    "PROXY_HEADER_TIMEOUT",
    "PROXY_IDLE_TIMEOUT",
    "PROXY_UPSTREAM_TIMEOUT",
    "PROXY_MAX_CONNECTIONS",
    "PROXY_MAX_SOCKETS",
    "PROXY_MAX_SOCKET_MESSAGE",
    "PROXY_SOCKET_IDLE_TIMEOUT",
    "PROXY_DRAIN_TIMEOUT",
    "PROXY_WORKERS",
    "PROXY_STORE_GRACE",
    "PROXY_STORE_KEY",
    "PROXY_JWT_PRIVATE_KEY",
    "PROXY_JWT_KEY_ID",
    "PROXY_MINT_CHECK",
    "PROXY_UPSTREAM_CA",
    "PROXY_HOOK_SECRET",
    "PROXY_SESSIONS_TABLE",
    "PROXY_APP_URL",
    "PROXY_IDENTITY_KEY",
    // Read by the binary before the rest, to set up its logs.
    "PROXY_LOG_FORMAT",
];

fn parse_store(text: &str) -> Result<StoreSpec, String> {
    if text == "memory:" {
        Ok(StoreSpec::Memory)
    } else if let Some(path) = text.strip_prefix("file:") {
        if path.is_empty() {
            return Err("`file:` needs a path, e.g. file:./data/sessions.redb".into());
        }
        Ok(StoreSpec::File(PathBuf::from(path)))
    } else if let Some(nodes) = super::cluster_nodes(text) {
        nodes.map(|_| StoreSpec::Redis(text.to_string()))
    } else if text.starts_with("redis://") || text.starts_with("rediss://") {
        match http::Uri::try_from(text) {
            Ok(uri) if uri.host().is_some() => Ok(StoreSpec::Redis(text.to_string())),
            _ => Err(format!(
                "`{text}` is not a Redis URL like redis://127.0.0.1:6379/0"
            )),
        }
    } else {
        Err(format!(
            "`{text}` is not a store; use memory:, file:PATH, redis://... or redis+cluster://..."
        ))
    }
}

fn check_mode(text: &str) -> Result<bool, String> {
    match text {
        "refresh" => Ok(false),
        "mint" => Ok(true),
        other => Err(format!(
            "`{other}` is not a token mode; use refresh or mint"
        )),
    }
}

/// The signing key of mint mode: an imported private key, else the JWT secret.
fn mint_key(r: &mut Reader<'_>) -> Option<TokenMode> {
    let kid = r.raw("PROXY_JWT_KEY_ID");
    let (key, parsed) = match (r.raw("PROXY_JWT_PRIVATE_KEY"), r.raw("SUPABASE_JWT_SECRET")) {
        (Some(pem_or_jwk), _) => (
            "PROXY_JWT_PRIVATE_KEY",
            MintKey::from_private_key(&pem_or_jwk, kid.as_deref()),
        ),
        (None, Some(secret)) => ("SUPABASE_JWT_SECRET", MintKey::from_secret(&secret)),
        (None, None) => {
            r.problem(
                "PROXY_TOKEN_MODE",
                "mint needs SUPABASE_JWT_SECRET or PROXY_JWT_PRIVATE_KEY",
            );
            return None;
        }
    };
    parsed
        .map(|k| TokenMode::Mint(Arc::new(k)))
        .map_err(|e| r.problem(key, e))
        .ok()
}

/// `PROXY_SESSIONS_TABLE`: `on` needs the service role key (PostgREST
/// writes to `public.sessions` as `service_role`). A bad value is recorded
/// as a problem (and `false` returned).
fn sessions_table(r: &mut Reader<'_>, has_service_key: bool) -> bool {
    let on = r
        .parsed("PROXY_SESSIONS_TABLE", Some("off"), |s| match s {
            "on" => Ok(true),
            "off" => Ok(false),
            other => Err(format!("`{other}` is not on or off")),
        })
        .unwrap_or(false);
    if on && !has_service_key {
        r.problem(
            "PROXY_SESSIONS_TABLE",
            "on needs SUPABASE_SERVICE_ROLE_KEY (the proxy writes public.sessions as service_role)",
        );
    }
    on
}

/// The front door: `PROXY_APP_URL` (validated like `SUPABASE_URL`) and the
/// imported identity key, which only an app receives.
fn front_door(r: &mut Reader<'_>) -> (Option<UpstreamUrl>, Option<Arc<IdentityKey>>) {
    let app_url = r
        .raw("PROXY_APP_URL")
        .filter(|s| !s.is_empty())
        .and_then(|s| {
            UpstreamUrl::parse(&s)
                .map_err(|e| r.problem("PROXY_APP_URL", e))
                .ok()
        });
    let identity_key = r
        .raw("PROXY_IDENTITY_KEY")
        .filter(|s| !s.is_empty())
        .and_then(|s| {
            IdentityKey::import(&s)
                .map(Arc::new)
                .map_err(|e| r.problem("PROXY_IDENTITY_KEY", e))
                .ok()
        });
    if identity_key.is_some() && r.raw("PROXY_APP_URL").is_none_or(|s| s.is_empty()) {
        r.problem(
            "PROXY_IDENTITY_KEY",
            "signs the identity the app receives: it needs PROXY_APP_URL",
        );
    }
    (app_url, identity_key)
}

fn parse_origins(text: &str) -> Result<Vec<Origin>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Origin::parse)
        .collect()
}

fn valid_cookie_name(name: &str, https: bool) -> Result<String, String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("`{name}` is not a valid cookie name"));
    }
    if (name.starts_with("__Host-") || name.starts_with("__Secure-")) && !https {
        return Err(format!(
            "`{name}` needs a Secure cookie, but PROXY_PUBLIC_URL is not https"
        ));
    }
    Ok(name.to_string())
}

fn positive(text: &str) -> Result<u64, String> {
    match parse_duration(text)? {
        0 => Err("must be longer than 0s".into()),
        n => Ok(n),
    }
}

impl Config {
    /// Reads and validates every setting from `source`.
    pub fn load(source: &dyn ConfigSource) -> Result<Config, ConfigProblems> {
        let mut r = Reader::new(source);
        let supabase_url = r.parsed("SUPABASE_URL", None, UpstreamUrl::parse);
        let anon_key = r.parsed("SUPABASE_ANON_KEY", None, |s| Ok(s.to_string()));
        let service_role_key = r.raw("SUPABASE_SERVICE_ROLE_KEY");
        let jwt_secret = r.raw("SUPABASE_JWT_SECRET");
        let listen = r.parsed("PROXY_LISTEN", Some("127.0.0.1:8787"), |s| {
            s.parse()
                .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:8787"))
        });
        let admin_listen = r.parsed("PROXY_ADMIN_LISTEN", Some("off"), |s| match s {
            "off" | "" => Ok(None),
            s => s
                .parse::<std::net::SocketAddr>()
                .map(Some)
                .map_err(|_| format!("`{s}` is not an address like 127.0.0.1:9090, or off")),
        });
        // Port 0 asks for any free port: two such listeners never collide.
        if let (Some(Some(admin)), Some(public)) = (admin_listen, listen)
            && admin == public
            && admin.port() != 0
        {
            r.problem(
                "PROXY_ADMIN_LISTEN",
                format!("{admin} is PROXY_LISTEN's address; the admin listener needs its own"),
            );
        }
        let public_url = r.parsed(
            "PROXY_PUBLIC_URL",
            Some("http://127.0.0.1:8787"),
            PublicUrl::parse,
        );
        let default_origin = public_url.as_ref().map(|u| u.origin().as_str().to_string());
        let allowed_origins = r.parsed(
            "PROXY_ALLOWED_ORIGINS",
            default_origin.as_deref(),
            parse_origins,
        );
        let token_mode = match r.parsed("PROXY_TOKEN_MODE", Some("refresh"), check_mode) {
            Some(true) => mint_key(&mut r),
            Some(false) => Some(TokenMode::Refresh),
            None => None,
        };
        let session_store = r.parsed(
            "PROXY_SESSION_STORE",
            Some("file:./data/sessions.redb"),
            parse_store,
        );
        let https = public_url.as_ref().is_some_and(PublicUrl::is_https);
        let default_cookie = if https {
            "__Host-sb-session"
        } else {
            "sb-session"
        };
        let cookie_name = r.parsed("PROXY_COOKIE_NAME", Some(default_cookie), |s| {
            valid_cookie_name(s, https)
        });
        let session_ttl = r.parsed("PROXY_SESSION_TTL", Some("30d"), positive);
        let session_idle_ttl = r.parsed("PROXY_SESSION_IDLE_TTL", Some("7d"), positive);
        let mint_ttl = r.parsed("PROXY_MINT_TTL", Some("5m"), positive);
        let refresh_margin = r.parsed("PROXY_REFRESH_MARGIN", Some("60s"), parse_duration);
        let trusted_proxies = r.parsed("PROXY_TRUSTED_PROXIES", Some(""), TrustedProxies::parse);
        let auth_rate_limit = r.parsed("PROXY_AUTH_RATE_LIMIT", Some("30/1m"), |s| match s {
            "off" => Ok(None),
            rate => parse_rate_limit(rate).map(Some),
        });
        let limits = load_limits(&mut r);
        let store_grace = r.parsed("PROXY_STORE_GRACE", Some("60s"), parse_duration);
        let store_keys = r.parsed("PROXY_STORE_KEY", Some(""), |s| match s {
            "" => Ok(None),
            keys => StoreKeys::parse(keys).map(Some),
        });
        let hook_secrets = r.parsed("PROXY_HOOK_SECRET", Some(""), |s| match s {
            "" => Ok(None),
            secrets => HookSecrets::parse(secrets).map(Some),
        });
        let Some(mint_check) = r.parsed("PROXY_MINT_CHECK", Some("60s"), positive) else {
            return Err(r.into_problems());
        };
        let upstream_ca = r.raw("PROXY_UPSTREAM_CA").map(PathBuf::from);
        let sessions_table = sessions_table(&mut r, service_role_key.is_some());
        let (app_url, identity_key) = front_door(&mut r);

        match (
            supabase_url,
            anon_key,
            listen,
            public_url,
            allowed_origins,
            token_mode,
            session_store,
            cookie_name,
            (session_ttl, session_idle_ttl, mint_ttl, refresh_margin),
            (trusted_proxies, auth_rate_limit, limits, store_grace),
            (store_keys, hook_secrets, admin_listen),
        ) {
            (
                Some(supabase_url),
                Some(anon_key),
                Some(listen),
                Some(public_url),
                Some(allowed_origins),
                Some(token_mode),
                Some(session_store),
                Some(cookie_name),
                (Some(session_ttl), Some(session_idle_ttl), Some(mint_ttl), Some(refresh_margin)),
                (Some(trusted_proxies), Some(auth_rate_limit), Some(limits), Some(store_grace)),
                (Some(store_keys), Some(hook_secrets), Some(admin_listen)),
            ) if r.is_clean() => Ok(Config {
                supabase_url,
                anon_key,
                service_role_key,
                jwt_secret,
                listen,
                admin_listen,
                public_url,
                allowed_origins,
                token_mode,
                session_store,
                cookie_name,
                session_ttl,
                session_idle_ttl,
                mint_ttl,
                refresh_margin,
                trusted_proxies,
                auth_rate_limit,
                limits,
                store_grace,
                store_keys,
                mint_check,
                upstream_ca,
                hook_secrets,
                sessions_table,
                app_url,
                identity_key,
            }),
            _ => Err(r.into_problems()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn source(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = Config::load(&source(&[
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ]))
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(c.cookie_name, "sb-session");
        assert_eq!(c.session_ttl, 30 * 86_400);
        assert_eq!(c.session_idle_ttl, 7 * 86_400);
        assert_eq!(c.mint_ttl, 300);
        assert_eq!(c.refresh_margin, 60);
        assert_eq!(c.mint_check, 60);
        assert!(matches!(c.token_mode, TokenMode::Refresh));
        assert_eq!(
            c.session_store,
            StoreSpec::File(PathBuf::from("./data/sessions.redb"))
        );
        assert!(c.origin_allowed("http://127.0.0.1:8787"));
        assert!(!c.secure_cookie());
    }

    #[test]
    fn https_public_url_gives_host_cookie_and_origin() {
        let c = Config::load(&source(&[
            ("SUPABASE_URL", "https://abc.supabase.co"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_PUBLIC_URL", "https://app.example.com/supabase"),
        ]))
        .unwrap();
        assert_eq!(c.cookie_name, "__Host-sb-session");
        assert!(c.secure_cookie());
        assert_eq!(c.public_url.base_path(), "/supabase");
        assert!(c.origin_allowed("https://app.example.com"));
        assert!(!c.origin_allowed("https://evil.example.com"));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = Config::load(&source(&[
            ("PROXY_LISTEN", "nowhere"),
            ("PROXY_PUBLIC_URL", "https://app.example.co,/supabase"),
            ("PROXY_SESSION_TTL", "forever"),
            ("PROXY_SESSION_STORE", "s3://bucket"),
            ("PROXY_TOKEN_MODE", "magic"),
            ("PROXY_ALLOWED_ORIGINS", "https://ok.example, not an origin"),
        ]))
        .unwrap_err();
        let keys: Vec<&str> = err.0.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "SUPABASE_URL",
                "SUPABASE_ANON_KEY",
                "PROXY_LISTEN",
                "PROXY_PUBLIC_URL",
                "PROXY_ALLOWED_ORIGINS",
                "PROXY_TOKEN_MODE",
                "PROXY_SESSION_STORE",
                "PROXY_SESSION_TTL",
            ]
        );
        let text = err.to_string();
        assert_eq!(text.lines().count(), 8);
        assert!(text.contains("SUPABASE_URL: is required"));
    }

    #[test]
    fn a_bad_mint_check_interval_is_one_line_naming_the_key() {
        for bad in ["0s", "often"] {
            let err = Config::load(&source(&[
                ("SUPABASE_URL", "http://127.0.0.1:54321"),
                ("SUPABASE_ANON_KEY", "anon"),
                ("PROXY_MINT_CHECK", bad),
            ]))
            .unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.to_string().starts_with("PROXY_MINT_CHECK: "), "{err}");
        }
    }

    #[test]
    fn the_hook_is_off_by_default_and_a_bad_secret_names_the_key() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ];
        assert!(Config::load(&source(&base)).unwrap().hook_secrets.is_none());
        let with = |secret| {
            let mut pairs = base.to_vec();
            pairs.push(("PROXY_HOOK_SECRET", secret));
            Config::load(&source(&pairs))
        };
        let two = "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw v1,whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0";
        assert!(with(two).unwrap().hook_secrets.is_some());
        let err = with("hunter2").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.to_string().starts_with("PROXY_HOOK_SECRET: "), "{err}");
    }

    #[test]
    fn the_sessions_table_is_off_by_default_and_on_needs_the_service_key() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ];
        assert!(!Config::load(&source(&base)).unwrap().sessions_table);
        let with = |extra: &[(&'static str, &'static str)]| {
            Config::load(&source(&[&base[..], extra].concat()))
        };
        let err = with(&[("PROXY_SESSIONS_TABLE", "on")]).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.to_string()
                .starts_with("PROXY_SESSIONS_TABLE: on needs SUPABASE_SERVICE_ROLE_KEY"),
            "{err}"
        );
        let on = [
            ("PROXY_SESSIONS_TABLE", "on"),
            ("SUPABASE_SERVICE_ROLE_KEY", "service"),
        ];
        assert!(with(&on).unwrap().sessions_table);
        let err = with(&[("PROXY_SESSIONS_TABLE", "yes")]).unwrap_err();
        assert_eq!(err.0[0].key, "PROXY_SESSIONS_TABLE", "{err}");
    }

    #[test]
    fn mint_mode_needs_a_usable_key() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_TOKEN_MODE", "mint"),
        ];
        let err = Config::load(&source(&base)).unwrap_err();
        assert!(
            err.to_string().contains("PROXY_TOKEN_MODE: mint needs"),
            "{err}"
        );
        let short = [&base[..], &[("SUPABASE_JWT_SECRET", "short")]].concat();
        assert_eq!(
            Config::load(&source(&short)).unwrap_err().0[0].key,
            "SUPABASE_JWT_SECRET"
        );
        let bad_key = [&base[..], &[("PROXY_JWT_PRIVATE_KEY", "{\"kty\":\"oct\"}")]].concat();
        assert_eq!(
            Config::load(&source(&bad_key)).unwrap_err().0[0].key,
            "PROXY_JWT_PRIVATE_KEY"
        );
        let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
        let good = [&base[..], &[("SUPABASE_JWT_SECRET", secret)]].concat();
        assert!(matches!(
            Config::load(&source(&good)).unwrap().token_mode,
            TokenMode::Mint(_)
        ));
    }

    #[test]
    fn the_app_url_is_optional_and_checked_like_supabase_url() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ];
        let c = Config::load(&source(&base)).unwrap();
        assert!(c.app_url.is_none() && c.identity_key.is_none());
        let app = [&base[..], &[("PROXY_APP_URL", "http://127.0.0.1:3000")]].concat();
        let c = Config::load(&source(&app)).unwrap();
        assert_eq!(c.app_url.unwrap().authority(), "127.0.0.1:3000");
        for bad in ["ftp://x", "http://a@b:3000", "http://127.0.0.1:3000/app"] {
            let wrong = [&base[..], &[("PROXY_APP_URL", bad)]].concat();
            let err = Config::load(&source(&wrong)).unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert_eq!(err.0[0].key, "PROXY_APP_URL");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
        let bad_key = [&app[..], &[("PROXY_IDENTITY_KEY", "{\"kty\":\"oct\"}")]].concat();
        assert_eq!(
            Config::load(&source(&bad_key)).unwrap_err().0[0].key,
            "PROXY_IDENTITY_KEY"
        );
        let jwk = r#"{"kty":"EC","crv":"P-256","kid":"id-1","d":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"}"#;
        let keyed = [&app[..], &[("PROXY_IDENTITY_KEY", jwk)]].concat();
        let c = Config::load(&source(&keyed)).unwrap();
        assert_eq!(c.identity_key.unwrap().kid(), "id-1");
        let without_app = [&base[..], &[("PROXY_IDENTITY_KEY", jwk)]].concat();
        let err = Config::load(&source(&without_app)).unwrap_err();
        assert!(
            err.to_string().contains("PROXY_IDENTITY_KEY: signs"),
            "{err}"
        );
    }

    #[test]
    fn host_prefixed_cookie_needs_https() {
        let err = Config::load(&source(&[
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_COOKIE_NAME", "__Host-x"),
        ]))
        .unwrap_err();
        assert_eq!(err.0[0].key, "PROXY_COOKIE_NAME");
    }

    #[test]
    fn store_keys_are_optional_and_a_bad_one_is_named() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ];
        assert!(Config::load(&source(&base)).unwrap().store_keys.is_none());
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let with = |value: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("PROXY_STORE_KEY", value));
            Config::load(&source(&pairs))
        };
        assert!(with(key).unwrap().store_keys.is_some());
        for bad in ["not-base64!", "AAECAwQ=", &format!("{key},short")] {
            let problems = with(bad).unwrap_err();
            let shown = problems.to_string();
            assert_eq!(problems.0.len(), 1, "{shown}");
            assert!(shown.starts_with("PROXY_STORE_KEY: "), "{shown}");
            assert!(!shown.contains(bad), "the key is not repeated: {shown}");
        }
    }

    #[test]
    fn the_admin_listener_is_off_by_default_and_never_the_public_address() {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_LISTEN", "127.0.0.1:8787"),
        ];
        let with = |value: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("PROXY_ADMIN_LISTEN", value));
            Config::load(&source(&pairs))
        };
        assert_eq!(Config::load(&source(&base)).unwrap().admin_listen, None);
        assert_eq!(with("off").unwrap().admin_listen, None);
        let admin = with("127.0.0.1:9090").unwrap().admin_listen;
        assert_eq!(
            admin.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        let mut any_ports = base.to_vec();
        any_ports[2] = ("PROXY_LISTEN", "127.0.0.1:0");
        any_ports.push(("PROXY_ADMIN_LISTEN", "127.0.0.1:0"));
        assert!(
            Config::load(&source(&any_ports))
                .unwrap()
                .admin_listen
                .is_some()
        );
        for bad in ["127.0.0.1:8787", "localhost", "on"] {
            let problems = with(bad).unwrap_err();
            assert_eq!(problems.0.len(), 1, "{problems}");
            assert_eq!(problems.0[0].key, "PROXY_ADMIN_LISTEN", "{problems}");
        }
    }
}
