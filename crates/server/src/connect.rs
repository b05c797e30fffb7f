//! Connecting to the upstream: TCP, then TLS for `https`/`wss` with the one
//! client configuration of [`crate::tls`]. Used by the HTTP connection pool
//! ([`crate::pool`], through [`Origin`]), by Realtime's WebSocket
//! connections (`crate::realtime::upstream`) and by `check`'s probes.

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use sbp_core::config::UpstreamUrl;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// TCP connecting and the TLS handshake together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The step at which [`Connector::open`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenStep {
    /// No TCP connection (refused, no route, the name not resolved).
    Tcp,
    /// The TLS handshake, or a host that cannot be a TLS server name.
    Tls,
    /// Not done within [`CONNECT_TIMEOUT`].
    Timeout,
}

/// Why [`Connector::open`] failed: the step, and a message that names it.
#[derive(Debug)]
pub struct OpenError {
    pub step: OpenStep,
    message: String,
}

impl OpenError {
    pub fn new(step: OpenStep, message: String) -> OpenError {
        OpenError { step, message }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpenError {}

/// Opens TCP (and TLS) connections with the shared client configuration;
/// cheap to clone.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
}

impl From<Arc<ClientConfig>> for Connector {
    fn from(config: Arc<ClientConfig>) -> Connector {
        Connector {
            tls: TlsConnector::from(config),
        }
    }
}

impl Connector {
    /// A connection to `host:port` (`host` a name or an IP address, IPv6
    /// with or without brackets), over TLS when `tls`; the error says
    /// which step failed. Gives up after [`CONNECT_TIMEOUT`].
    pub async fn open(&self, host: &str, port: u16, tls: bool) -> Result<Stream, OpenError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let failed = OpenError::new;
        let opened = async {
            let tcp = TcpStream::connect((host, port)).await.map_err(|e| {
                failed(
                    OpenStep::Tcp,
                    format!("cannot connect to {host}:{port}: {e}"),
                )
            })?;
            let _ = tcp.set_nodelay(true);
            if !tls {
                return Ok(Stream::Plain(tcp));
            }
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| failed(OpenStep::Tls, format!("bad TLS name {host}: {e}")))?;
            let tls = self.tls.connect(name, tcp).await;
            Ok(Stream::Tls(Box::new(tls.map_err(|e| {
                failed(OpenStep::Tls, format!("TLS with {host}: {e}"))
            })?)))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, opened)
            .await
            .map_err(|_| {
                failed(
                    OpenStep::Timeout,
                    format!("connecting to {host}:{port} timed out"),
                )
            })?
    }
}

/// The upstream the HTTP pool connects to: one host, port and scheme.
#[derive(Clone)]
pub struct Origin {
    pub connector: Connector,
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Origin {
    /// Where `url` points: its host, port (the scheme's by default) and
    /// whether it is TLS.
    pub fn of(url: &UpstreamUrl, connector: Connector) -> Result<Origin, crate::Error> {
        let invalid = || crate::Error::Upstream("SUPABASE_URL is not a valid URL".into());
        let authority: http::uri::Authority = url.authority().parse().map_err(|_| invalid())?;
        let tls = url.is_https();
        Ok(Origin {
            connector,
            host: authority.host().to_string(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
        })
    }
}

impl crate::pool::Connect for Origin {
    type Io = Stream;

    async fn connect(&self) -> Result<Stream, String> {
        let opened = self.connector.open(&self.host, self.port, self.tls).await;
        opened.map_err(|e| e.to_string())
    }
}

/// A byte stream to the upstream, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
