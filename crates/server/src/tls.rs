//! The TLS client configuration for the upstream, built once at start and
//! shared by the HTTP client and the Realtime `wss://` connections (both
//! connect through `crate::connect`): the
//! public roots (webpki-roots) and the CA certificates of
//! `PROXY_UPSTREAM_CA`, certificates always verified.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use sbp_core::config::{ConfigProblem, ConfigProblems};
use std::path::Path;
use std::sync::Arc;

const KEY: &str = "PROXY_UPSTREAM_CA";

/// The client configuration trusting the public roots and, when given, the
/// certificates of the PEM file `ca`. A missing or unreadable file, or one
/// without a certificate, is a configuration error naming the setting.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, crate::Error> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca {
        for certificate in read_certificates(path).map_err(problem)? {
            roots.add(certificate).map_err(|e| {
                problem(format!(
                    "{} holds a certificate that cannot be trusted: {e}",
                    path.display()
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // No ALPN: without it servers speak HTTP/1.1, which both users (the
    // HTTP/1.1 pool and Realtime's WebSocket) need.
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| crate::Error::Upstream(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate in the PEM file at `path` (other PEM sections, such as
/// a key, are skipped); at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not a PEM file: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{shown} holds no PEM certificate"));
    }
    Ok(certificates)
}

fn problem(message: String) -> crate::Error {
    crate::Error::Config(ConfigProblems(vec![ConfigProblem { key: KEY, message }]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn message(result: Result<Arc<ClientConfig>, crate::Error>) -> String {
        match result {
            Err(crate::Error::Config(problems)) => problems.to_string(),
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let text = message(client_config(Some(Path::new("/nonexistent/ca.pem"))));
        assert!(
            text.starts_with("PROXY_UPSTREAM_CA: cannot read /nonexistent/ca.pem"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let empty = file("not a certificate\n");
        let text = message(client_config(Some(empty.path())));
        assert!(text.starts_with("PROXY_UPSTREAM_CA: "), "{text}");
        assert!(text.ends_with("holds no PEM certificate"), "{text}");
    }

    #[test]
    fn a_certificate_that_is_not_der_is_refused() {
        let garbage = file("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let text = message(client_config(Some(garbage.path())));
        assert!(text.starts_with("PROXY_UPSTREAM_CA: "), "{text}");
        assert!(text.contains("cannot be trusted"), "{text}");
    }
}
