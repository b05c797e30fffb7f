//! Reaching the project: the host's name resolved, then TCP and TLS through
//! the proxy's [`Connector`](crate::connect::Connector); each way of not
//! getting there named with its likely fix.

use crate::connect::{OpenError, OpenStep, Origin, Stream};

/// The likely fix when a probe gets no answer in time.
pub const ON_TIMEOUT: &str =
    "check SUPABASE_URL, and that nothing between (a firewall, a proxy) drops the connection";

/// Why a probe got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreached {
    /// The host name does not resolve.
    Dns { host: String, cause: String },
    /// No TCP connection (refused, no route).
    Connect(String),
    /// The TLS handshake failed (an untrusted certificate, a port that does
    /// not speak TLS).
    Tls(String),
    /// Connected, but what came back is not HTTP.
    NotHttp(String),
}

impl Unreached {
    /// An error of `Connector::open`, by the step it failed at.
    pub fn of_connect(error: OpenError) -> Unreached {
        match error.step {
            OpenStep::Tls => Unreached::Tls(error.to_string()),
            OpenStep::Tcp | OpenStep::Timeout => Unreached::Connect(error.to_string()),
        }
    }

    /// What is wrong; how to fix it.
    pub fn failure(&self) -> String {
        match self {
            Unreached::Dns { host, cause } => format!(
                "{host} does not resolve ({cause}); check SUPABASE_URL's host \
                 (a hosted project's is https://<project ref>.supabase.co)"
            ),
            Unreached::Connect(why) if why.to_ascii_lowercase().contains("refused") => format!(
                "{why}; nothing listens there: check SUPABASE_URL's host and port, \
                 and that the project is running"
            ),
            Unreached::Connect(why) => format!(
                "{why}; check SUPABASE_URL, and that this machine can reach it (network, firewall)"
            ),
            Unreached::Tls(why) => format!(
                "{why}; a certificate from a private CA needs PROXY_UPSTREAM_CA (its PEM file), \
                 and https:// needs a port that speaks TLS"
            ),
            Unreached::NotHttp(why) => format!(
                "the answer is not HTTP ({why}); check SUPABASE_URL's scheme \
                 (https:// for a port that speaks TLS)"
            ),
        }
    }
}

/// A connection to the project: name resolved, TCP, TLS for `https`.
pub async fn open(origin: &Origin) -> Result<Stream, Unreached> {
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let resolved = tokio::net::lookup_host((host, origin.port)).await;
    if let Err(e) = resolved {
        return Err(Unreached::Dns {
            host: host.to_string(),
            cause: e.to_string(),
        });
    }
    origin
        .connector
        .open(&origin.host, origin.port, origin.tls)
        .await
        .map_err(Unreached::of_connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_of_not_getting_there_names_its_fix() {
        let refused = Unreached::of_connect(OpenError::new(
            OpenStep::Tcp,
            "cannot connect to 127.0.0.1:9: Connection refused (os error 111)".into(),
        ));
        assert!(matches!(refused, Unreached::Connect(_)));
        assert_eq!(
            refused.failure(),
            "cannot connect to 127.0.0.1:9: Connection refused (os error 111); nothing listens \
             there: check SUPABASE_URL's host and port, and that the project is running"
        );
        let unreachable = Unreached::of_connect(OpenError::new(
            OpenStep::Tcp,
            "cannot connect to 10.0.0.1:443: Network is unreachable".into(),
        ));
        assert!(unreachable.failure().ends_with("(network, firewall)"));

        let tls = Unreached::of_connect(OpenError::new(
            OpenStep::Tls,
            "TLS with example.com: invalid peer certificate: UnknownIssuer".into(),
        ));
        assert!(matches!(tls, Unreached::Tls(_)));
        assert!(
            tls.failure()
                .contains("UnknownIssuer; a certificate from a private CA needs PROXY_UPSTREAM_CA"),
            "{}",
            tls.failure()
        );

        let dns = Unreached::Dns {
            host: "nope.invalid".into(),
            cause: "failed to lookup address information".into(),
        };
        assert!(
            dns.failure()
                .starts_with("nope.invalid does not resolve (failed to lookup"),
            "{}",
            dns.failure()
        );
        assert!(dns.failure().contains("check SUPABASE_URL's host"));

        let not_http = Unreached::NotHttp("invalid HTTP version parsed".into());
        assert!(not_http.failure().contains("check SUPABASE_URL's scheme"));
    }
}
