//! Team authentication: the key from `Authorization: Bearer` or `x-api-key`, looked up
//! by its SHA-256 (the configuration never holds a key).

use sha2::{Digest, Sha256};

use crate::config::{Caller, Compiled, Team};
use crate::error::{ErrorCode, GatewayError};
use crate::headers::Headers;

/// SHA-256 of a key, as the configuration stores it.
pub fn key_digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

pub fn key_digest_hex(key: &[u8]) -> String {
    key_digest(key).iter().map(|b| format!("{b:02x}")).collect()
}

/// The team the request's key belongs to. Error messages never contain the key.
pub fn authenticate<'c>(config: &'c Compiled, headers: &Headers<'_>) -> Result<&'c Team, GatewayError> {
    let caller = authenticate_caller(config, headers)?;
    config
        .teams
        .get(caller.team)
        .ok_or_else(|| GatewayError::new(ErrorCode::Unauthorized, "the API key is not valid for this gateway"))
}

/// The team, and the key's id where it has one, of the request's key.
pub fn authenticate_caller(config: &Compiled, headers: &Headers<'_>) -> Result<Caller, GatewayError> {
    let unauthorized = |msg: &str| GatewayError::new(ErrorCode::Unauthorized, msg);
    if headers.count("authorization") > 1 || headers.count("x-api-key") > 1 {
        return Err(unauthorized("send one API key, in one header"));
    }
    let bearer = match headers.get("authorization") {
        Some(v) => Some(
            bearer_token(v)
                .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <your team's API key>`"))?,
        ),
        None => None,
    };
    let x_api_key = headers.get("x-api-key").map(trim);
    let key = match (bearer, x_api_key) {
        (Some(a), Some(b)) if a != b => {
            return Err(unauthorized(
                "Authorization and x-api-key carry different keys; send one",
            ))
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            return Err(unauthorized(
                "no API key: send your team's key as `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ))
        }
    };
    if key.is_empty() {
        return Err(unauthorized("the API key is empty"));
    }
    config
        .caller_by_key_digest(&key_digest(key))
        .ok_or_else(|| unauthorized("the API key is not valid for this gateway"))
}

fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = trim(value);
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(trim(value.get(7..)?))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile;

    fn config() -> Compiled {
        let json = format!(
            r#"{{"teams":[{{"name":"team-abc","key_sha256":["{}"]}},{{"name":"team-xyz","key_sha256":["{}"]}}],
                "providers":[{{"name":"p","kind":"openai","api_key_env":"K"}}],
                "models":[{{"name":"m","provider":"p","tier":"general"}}]}}"#,
            key_digest_hex(b"team-abc-key-xxxxx"),
            key_digest_hex(b"xyz-key")
        );
        compile(json.as_bytes()).unwrap()
    }

    fn hs(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect()
    }

    fn team_of(pairs: &[(&str, &[u8])]) -> Result<String, GatewayError> {
        let c = config();
        let p = hs(pairs);
        authenticate(&c, &Headers::new(&p)).map(|t| t.name.clone())
    }

    #[test]
    fn digest_matches_known_sha256() {
        assert_eq!(
            key_digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_and_x_api_key_identify_teams() {
        assert_eq!(
            team_of(&[("authorization", b"Bearer team-abc-key-xxxxx")]).unwrap(),
            "team-abc"
        );
        assert_eq!(
            team_of(&[("authorization", b"bearer  team-abc-key-xxxxx ")]).unwrap(),
            "team-abc"
        );
        assert_eq!(team_of(&[("x-api-key", b"xyz-key")]).unwrap(), "team-xyz");
        assert_eq!(
            team_of(&[("authorization", b"Bearer xyz-key"), ("x-api-key", b"xyz-key")]).unwrap(),
            "team-xyz"
        );
    }

    #[test]
    fn rejects_missing_unknown_malformed_conflicting() {
        for pairs in [
            vec![],
            vec![("authorization", &b"Bearer nope"[..])],
            vec![("authorization", &b"Basic dXNlcjpwYXNz"[..])],
            vec![("authorization", &b"Bearer "[..])],
            vec![("x-api-key", &b""[..])],
            vec![
                ("authorization", &b"Bearer team-abc-key-xxxxx"[..]),
                ("x-api-key", &b"xyz-key"[..]),
            ],
            vec![
                ("x-api-key", &b"xyz-key"[..]),
                ("x-api-key", &b"team-abc-key-xxxxx"[..]),
            ],
        ] {
            let err = team_of(&pairs).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthorized);
            assert!(
                !err.message.contains("team-abc-key"),
                "message leaks the key: {}",
                err.message
            );
        }
    }
}
