//! Storage under `/storage/v1`: verifies the bearer with no clock skew
//! (refusals are HTTP 400 with `statusCode: "403"`), streams object uploads
//! through SHA-256 without buffering them, and echoes everything else.

use http::{Response, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{Identity, echo, hash_body};
use crate::jwt::JwtError;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

pub(crate) async fn handle(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let who = match identify(shared, req) {
        Ok(who) => who,
        Err(message) => return access_denied(&message),
    };
    let is_write = matches!(req.method.as_str(), "POST" | "PUT");
    let key = req
        .path
        .strip_prefix("/storage/v1/object/")
        .filter(|key| {
            key.split_once('/')
                .is_some_and(|(bucket, path)| !bucket.is_empty() && !path.is_empty())
        })
        .map(str::to_owned);
    match key {
        Some(key) if is_write => upload(req, &key, &who).await,
        _ => json(StatusCode::OK, &echo("storage", req, &who)),
    }
}

/// Hashes the body chunk by chunk; memory stays flat whatever its size.
async fn upload(req: &mut Req, key: &str, who: &Identity) -> Response<StubBody> {
    let (total, sha256) = match hash_body(req).await {
        Ok(digest) => digest,
        Err(e) => {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"statusCode": "400", "error": "Bad Request", "message": format!("upload failed: {e}")}),
            );
        }
    };
    json(
        StatusCode::OK,
        &json!({
            "Key": key,
            "Id": Uuid::new_v4(),
            "bytes": total,
            "sha256": sha256,
            "role": who.role,
            "sub": who.sub,
        }),
    )
}

/// The identity of a valid bearer (no clock skew), or why it was refused.
fn identify(shared: &Shared, req: &Req) -> Result<Identity, String> {
    let token = req
        .bearer()
        .ok_or_else(|| "headers must have required property 'authorization'".to_owned())?;
    match shared.keys.verify(token, 0) {
        Ok(claims) => Ok(Identity::from_claims(claims, None)),
        Err(JwtError::Expired) => Err("jwt expired".to_owned()),
        Err(JwtError::Invalid(why)) => Err(why),
    }
}

fn access_denied(message: &str) -> Response<StubBody> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"statusCode": "403", "code": "AccessDenied", "error": "Unauthorized", "message": message}),
    )
}
