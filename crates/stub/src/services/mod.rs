//! The data services behind the API gateway (PostgREST, Storage, Functions,
//! GraphQL, Realtime REST) and the JSON echo they answer with, so tests can
//! see which identity and headers reached "Supabase".

pub(crate) mod functions;
pub(crate) mod rest;
pub(crate) mod storage;

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// The identity a verified bearer token (or its absence) gives a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    pub role: Option<String>,
    pub sub: Option<String>,
    pub claims: Option<Map<String, Value>>,
}

impl Identity {
    /// The identity of verified claims; `default_role` when they carry no `role`.
    pub fn from_claims(claims: Map<String, Value>, default_role: Option<&str>) -> Self {
        let text = |key| claims.get(key).and_then(Value::as_str).map(str::to_owned);
        Identity {
            role: text("role").or_else(|| default_role.map(str::to_owned)),
            sub: text("sub"),
            claims: Some(claims),
        }
    }
}

/// What a service saw: method, path, query, identity, cookie and forwarding headers.
pub(crate) fn echo(service: &str, req: &Req, who: &Identity) -> Value {
    json!({
        "service": service,
        "method": req.method.as_str(),
        "path": req.path,
        "query": req.query,
        "role": who.role,
        "sub": who.sub,
        "claims": who.claims,
        "cookie": req.header("cookie"),
        "forwarded": {
            "for": req.header("x-forwarded-for"),
            "proto": req.header("x-forwarded-proto"),
            "host": req.header("x-forwarded-host"),
        },
    })
}

/// `/graphql/v1`: PostgREST's JWT rules, then an echo.
pub(crate) fn graphql(shared: &Shared, req: &Req) -> Response<StubBody> {
    match rest::identify(shared, req) {
        Ok(who) => json(StatusCode::OK, &echo("graphql", req, &who)),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /realtime/v1/api/broadcast[/...]`: PostgREST's JWT rules, then 202 with an echo.
pub(crate) fn broadcast(shared: &Shared, req: &Req) -> Response<StubBody> {
    match rest::identify(shared, req) {
        Ok(who) => json(StatusCode::ACCEPTED, &echo("realtime", req, &who)),
        Err(refusal) => refusal.into_response(),
    }
}

/// Reads a request body chunk by chunk (memory stays flat whatever its
/// size); its length and lower-case hex SHA-256.
pub(crate) async fn hash_body(req: &mut Req) -> Result<(u64, String), String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    while let Some(chunk) = req.body.next_chunk().await.map_err(|e| e.to_string())? {
        total += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((total, hex(&hasher.finalize())))
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
