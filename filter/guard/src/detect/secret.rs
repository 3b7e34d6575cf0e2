//! `secret`: credentials with a recognisable shape, triggered at word starts.
//!
//! AWS access key ids (`AKIA`/`ASIA` + 16), AWS secret keys (40 chars) after a label such
//! as `aws_secret_access_key`, GitHub tokens (`ghp_` `gho_` `ghu_` `ghs_` `ghr_`,
//! `github_pat_`), Slack tokens (`xoxa-` `xoxb-` `xoxp-` `xoxr-` `xoxs-` `xapp-`) and
//! `hooks.slack.com` webhooks, Google API keys (`AIza` + 35), OpenAI (`sk-`, `sk-proj-`)
//! and Anthropic (`sk-ant-`) keys with at least 20 characters after `sk-` including a
//! digit and a letter, Stripe live keys (`sk_live_`, `rk_live_`), PEM private-key blocks,
//! and JWTs (three base64url parts, the first a JSON object).

use crate::bytes::{at, before, find_bytes, run_end, starts_with, starts_with_ci};

/// Labels after which a 40-character AWS secret access key is expected.
const AWS_SECRET_LABELS: &[&[u8]] = &[
    b"aws_secret_access_key",
    b"aws-secret-access-key",
    b"aws secret access key",
    b"aws_secret_key",
    b"aws secret key",
    b"secret_access_key",
    b"secretaccesskey",
    b"secret access key",
];

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Finds secrets from their rare triggers rather than visiting every word: the fixed
/// prefixes by SIMD substring search, `_`-prefixes (`ghp_`, `github_pat_`, `sk_live_`) and
/// `-`-prefixes (`sk-`, `xoxb-`, `xapp-`) from the `_` / `-` bytes, and the labels of AWS
/// secret keys from `secret` / `Secret` / `SECRET`.
pub(super) fn scan(b: &[u8], found: &mut dyn FnMut(usize, usize)) {
    let mut starts: Vec<usize> = Vec::new();
    for needle in [
        &b"AKIA"[..],
        b"ASIA",
        b"AIza",
        b"eyJ",
        b"hooks.slack.com/",
        b"-----BEGIN ",
    ] {
        starts.extend(memchr::memmem::find_iter(b, needle));
    }
    let back = |starts: &mut Vec<usize>, at: usize, offsets: &[usize]| {
        starts.extend(offsets.iter().filter_map(|&o| at.checked_sub(o)));
    };
    for u in memchr::memchr_iter(b'_', b) {
        back(&mut starts, u, &[2, 3, 6]);
    }
    for d in memchr::memchr_iter(b'-', b) {
        back(&mut starts, d, &[2, 4]);
    }
    for needle in [&b"ecret"[..], b"ECRET"] {
        for j in memchr::memmem::find_iter(b, needle) {
            // `secret…` starts at the `s`; `aws_secret…` four bytes earlier.
            back(&mut starts, j, &[1, 5]);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut next = 0;
    for s in starts {
        let c = at(b, s);
        let p = before(b, s);
        let word_start = if c == b'-' {
            p != b'-' && !p.is_ascii_alphanumeric()
        } else {
            c.is_ascii_alphanumeric() && !p.is_ascii_alphanumeric()
        };
        if s < next || !word_start || !may_start(c, at(b, s + 1)) {
            continue;
        }
        if let Some((fs, fe)) = find_at(b, s) {
            found(fs, fe);
            next = fe;
        }
    }
}

/// Cheap pre-check on the first two bytes of a word: could a secret start here?
fn may_start(c0: u8, c1: u8) -> bool {
    match c0 {
        b'A' => matches!(c1, b'K' | b'S' | b'I' | b'W' | b'w'),
        b'a' => matches!(c1, b'w' | b'W'),
        b's' => matches!(c1, b'k' | b'e' | b'E'),
        b'S' => matches!(c1, b'e' | b'E'),
        b'r' => c1 == b'k',
        b'g' => matches!(c1, b'h' | b'i'),
        b'x' => matches!(c1, b'o' | b'a'),
        b'h' => c1 == b'o',
        b'e' => c1 == b'y',
        b'-' => c1 == b'-',
        _ => false,
    }
}

/// A secret starting at word start `i` (its span may start later, e.g. a labelled value).
fn find_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    match at(b, i) {
        b'A' => aws_key_id(b, i).or_else(|| google(b, i)).or_else(|| aws_secret(b, i)),
        b'a' | b's' | b'S' => {
            if at(b, i) == b's' {
                if let Some(s) = sk(b, i).or_else(|| stripe(b, i)) {
                    return Some(s);
                }
            }
            aws_secret(b, i)
        }
        b'r' => stripe(b, i),
        b'g' => github(b, i),
        b'x' => slack_token(b, i),
        b'h' => slack_webhook(b, i),
        b'e' => jwt(b, i),
        b'-' => pem(b, i),
        _ => None,
    }
}

/// A body of `pred` bytes from `p`, at least `min` long; its end.
fn body(b: &[u8], p: usize, min: usize, pred: fn(u8) -> bool) -> Option<usize> {
    let e = run_end(b, p, pred);
    (e - p >= min).then_some(e)
}

fn aws_key_id(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !(starts_with(b, i, b"AKIA") || starts_with(b, i, b"ASIA")) {
        return None;
    }
    let e = run_end(b, i + 4, |c| c.is_ascii_uppercase() || c.is_ascii_digit());
    (e - i == 20 && !alnum(at(b, e))).then_some((i, e))
}

fn google(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"AIza") {
        return None;
    }
    let e = run_end(b, i + 4, b64url);
    (e - i == 39).then_some((i, e))
}

fn aws_secret(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // Every label starts with "aws" or "secret".
    if !(starts_with_ci(b, i, b"aws") || starts_with_ci(b, i, b"secret")) {
        return None;
    }
    let label = AWS_SECRET_LABELS.iter().find(|l| starts_with_ci(b, i, l))?;
    let mut p = i + label.len();
    let sep_end = run_end(b, p, |c| matches!(c, b' ' | b'\t' | b'"' | b'\'' | b':' | b'='));
    if sep_end == p || sep_end - p > 8 {
        return None;
    }
    p = sep_end;
    let key = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    let e = run_end(b, p, key);
    (e - p == 40 && at(b, e) != b'=').then_some((p, e))
}

fn github(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if starts_with(b, i, b"github_pat_") {
        let e = body(b, i + 11, 22, |c| c.is_ascii_alphanumeric() || c == b'_')?;
        return Some((i, e));
    }
    let kind = at(b, i + 2);
    if !(starts_with(b, i, b"gh") && matches!(kind, b'p' | b'o' | b'u' | b's' | b'r')) || at(b, i + 3) != b'_' {
        return None;
    }
    let e = body(b, i + 4, 36, alnum)?;
    (e - i - 4 <= 255 && at(b, e) != b'_').then_some((i, e))
}

fn slack_token(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let token =
        starts_with(b, i, b"xox") && matches!(at(b, i + 3), b'a' | b'b' | b'p' | b'r' | b's') && at(b, i + 4) == b'-';
    if !(token || starts_with(b, i, b"xapp-")) {
        return None;
    }
    let p = i + 5;
    let e = body(b, p, 10, |c| c.is_ascii_alphanumeric() || c == b'-')?;
    let has_digit = b.get(p..e)?.iter().any(u8::is_ascii_digit);
    has_digit.then_some((i, e))
}

fn slack_webhook(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"hooks.slack.com/") {
        return None;
    }
    let p = i + 16;
    let path = [&b"services/"[..], b"workflows/", b"triggers/"]
        .into_iter()
        .find(|s| starts_with(b, p, s))?;
    let e = body(b, p + path.len(), 20, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-')
    })?;
    // Include the scheme so the redacted URL does not leave `https://` dangling.
    let start = [&b"https://"[..], b"http://"]
        .into_iter()
        .find_map(|s| {
            let st = i.checked_sub(s.len())?;
            starts_with(b, st, s).then_some(st)
        })
        .unwrap_or(i);
    Some((start, e))
}

fn sk(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"sk-") {
        return None;
    }
    let p = i + 3;
    let e = body(b, p, 20, b64url)?;
    let s = b.get(p..e)?;
    let mixed = s.iter().any(u8::is_ascii_digit) && s.iter().any(u8::is_ascii_alphabetic);
    mixed.then_some((i, e))
}

fn stripe(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !(starts_with(b, i, b"sk_live_") || starts_with(b, i, b"rk_live_")) {
        return None;
    }
    let e = body(b, i + 8, 16, alnum)?;
    Some((i, e))
}

fn jwt(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"eyJ") {
        return None;
    }
    let h = run_end(b, i, b64url);
    if h - i < 10 || at(b, h) != b'.' {
        return None;
    }
    let p = run_end(b, h + 1, b64url);
    if p - (h + 1) < 2 || at(b, p) != b'.' {
        return None;
    }
    let s = run_end(b, p + 1, b64url);
    if at(b, s) == b'.' || at(b, s) == b'=' {
        return None;
    }
    json_object(&decode_b64url(b.get(i..h)?)?).then_some((i, s))
}

fn json_object(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes).is_ok()
}

/// Decodes unpadded base64url; `None` on a length that cannot occur.
fn decode_b64url(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

/// `-----BEGIN … PRIVATE KEY-----` through the matching `-----END …-----`; a truncated
/// block extends over the base64 lines that follow the header.
fn pem(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"-----BEGIN ") {
        return None;
    }
    let label_start = i + 11;
    let label_end = find_bytes(b, label_start, label_start + 64, b"-----")?;
    let label = b.get(label_start..label_end)?;
    if !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK")) {
        return None;
    }
    let body_start = label_end + 5;
    // The END line, if only base64, whitespace and RFC 1421 header characters come
    // before it (not, say, the next block's BEGIN line). Linear: stops at the first
    // other byte or dash run.
    let limit = body_start + (64 << 10);
    let mut p = body_start;
    while p < limit.min(b.len()) {
        let c = at(b, p);
        if starts_with(b, p, b"-----") {
            if starts_with(b, p, b"-----END ") {
                let close = find_bytes(b, p + 9, p + 9 + 64, b"-----")?;
                return has_key_material(b.get(body_start..p)?).then_some((i, close + 5));
            }
            break;
        }
        if !(c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || b"+/=:,-".contains(&c)) {
            break;
        }
        p += 1;
    }
    // Truncated: RFC 1421 header lines and a blank line, then base64 lines.
    let mut end = body_start;
    let mut p = body_start;
    // A header with nothing after it on its line and no END is not reported either.
    match (at(b, p), at(b, p + 1)) {
        (b'\n', _) => p += 1,
        (b'\r', b'\n') => p += 2,
        _ => return None,
    }
    let mut seen_base64 = false;
    loop {
        let line_end = run_end(b, p, |c| c != b'\n');
        let raw = b.get(p..line_end)?;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let is_base64 = !line.is_empty()
            && line
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='));
        let is_header = line.starts_with(b"Proc-Type:") || line.starts_with(b"DEK-Info:");
        if is_base64 {
            seen_base64 = true;
            end = p + line.len();
        } else if is_header && !seen_base64 {
            end = p + line.len();
        } else if !line.is_empty() || seen_base64 {
            break;
        }
        if at(b, line_end) != b'\n' {
            break;
        }
        p = line_end + 1;
    }
    has_key_material(b.get(body_start..end)?).then_some((i, end))
}

/// A header alone (`"-----BEGIN PRIVATE KEY-----"` in code that looks for one) is not a
/// key: require some base64 body.
fn has_key_material(body: &[u8]) -> bool {
    body.iter().filter(|c| c.is_ascii_alphanumeric()).count() >= 16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first secret, found both by visiting every word start and by `scan`'s
    /// triggers (which must agree).
    fn one(t: &str) -> Option<&str> {
        let b = t.as_bytes();
        let by_words = (0..b.len())
            .filter(|&i| i == 0 || !b[i - 1].is_ascii_alphanumeric())
            .find_map(|i| find_at(b, i));
        let mut by_triggers = None;
        scan(b, &mut |s, e| {
            by_triggers.get_or_insert((s, e));
        });
        assert_eq!(by_words, by_triggers, "{t}");
        by_words.map(|(s, e)| &t[s..e])
    }

    #[test]
    fn shapes() {
        assert_eq!(one("key AKIAIOSFODNN7EXAMPLE."), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(
            one("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        );
        let gh = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        assert_eq!(one(&format!("token: {gh}")), Some(gh));
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(one(&format!("Bearer {jwt}")), Some(jwt));
        assert_eq!(one("eyJub3Rqc29u.eyJ4Ijox.sig"), None);
        assert_eq!(one("sk-this-is-not-a-key-at-all-really"), None);
        assert_eq!(one("AKIAIOSFODNN7EXAMPL"), None);
    }

    #[test]
    fn pem_blocks() {
        let full = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc+/=\n-----END RSA PRIVATE KEY-----";
        assert_eq!(one(&format!("x\n{full}\nmore")), Some(full));
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nMIIEvQIBADANBgkq";
        assert_eq!(one(&format!("{cut}\nthanks for the help")), Some(cut));
        assert_eq!(one("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"), None);
        assert_eq!(one(r#"starts_with("-----BEGIN PRIVATE KEY-----")"#), None);
        assert_eq!(
            one("-----BEGIN PRIVATE KEY-----\n<your key>\n-----END PRIVATE KEY-----"),
            None
        );
    }

    #[test]
    fn b64url_decoding() {
        assert_eq!(decode_b64url(b"eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
        assert_eq!(decode_b64url(b"a"), None);
    }
}
