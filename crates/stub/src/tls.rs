//! TLS for the stand-in: a certificate authority made at test time and a
//! server certificate it issues for `localhost` and `127.0.0.1`, so tests
//! reach the stub over `https://` and `wss://` as they would a real project
//! (start one with [`crate::Stub::start_tls`]).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The names the server certificate is valid for.
const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A fresh CA (its key never leaves the process) and the stub's TLS
/// server configuration with a certificate it issued.
pub struct TestCa {
    ca_pem: String,
    server: Arc<ServerConfig>,
}

impl TestCa {
    /// Makes the CA and the server certificate (ECDSA P-256).
    pub fn generate() -> std::io::Result<TestCa> {
        Self::try_generate().map_err(std::io::Error::other)
    }

    fn try_generate() -> Result<TestCa, Box<dyn std::error::Error + Send + Sync>> {
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "supabase-stub test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let server_key = KeyPair::generate()?;
        let mut server_params = CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec())?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server_params.signed_by(&server_key, &ca)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain = vec![server_cert.der().clone(), ca.der().clone()];
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))?;
        Ok(TestCa {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA's certificate, PEM: what a client must trust to reach the stub.
    pub fn pem(&self) -> &str {
        &self.ca_pem
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server.clone())
    }
}
