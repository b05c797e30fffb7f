//! The suite's one HTTP/1 client: hyper's pooled client over plain TCP, with
//! a boxed body so that the same client sends whole bodies (the browser) and
//! streamed ones (gigabyte uploads).

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A request body: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A whole body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}
