//! Memory per idle keep-alive connection of a running hop (the proxy or
//! nginx): opens COUNT connections to URL, each makes one request and reads
//! the answer to the end, and all stay open while the RSS of the given
//! processes is read again (VmRSS from /proc, before and after). Loopback
//! only; every connection is closed before it exits. Prints one JSON object.
//!
//! Usage: idle-connections URL COUNT PID[,PID...] ["Name: value" ...]

use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use sbp_bench::IdleArgs;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

type Open = (SendRequest<Empty<bytes::Bytes>>, JoinHandle<()>);

/// One connection that made one request, read its answer and stays open.
async fn open(uri: &http::Uri, headers: &[(String, String)]) -> Open {
    let authority = uri.authority().expect("URL has a host and port").as_str();
    let tcp = TcpStream::connect(authority).await.expect("connect");
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::get(target).header("host", authority);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = sender
        .send_request(request.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    assert!(
        response.status().is_success(),
        "{uri} answered {}",
        response.status()
    );
    response.into_body().collect().await.expect("body");
    (sender, driver)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = IdleArgs::from_command_line("idle-connections");
    let uri: http::Uri = args.url.parse().expect("an http:// URL");
    // Half a second for the hop to finish with the last exchanges.
    let open = |_| open(&uri, &args.headers);
    for (sender, driver) in args.hold(open, Duration::from_millis(500)).await {
        drop(sender);
        let _ = driver.await;
    }
}
