//! `secret`: credentials with a recognisable shape, found from their prefixes (the engine's
//! automaton reports every occurrence) at word starts.
//!
//! AWS access key ids (`AKIA`/`ASIA` + 16), AWS secret keys (40 chars) after a label such
//! as `aws_secret_access_key`, GitHub tokens (`ghp_` `gho_` `ghu_` `ghs_` `ghr_`,
//! `github_pat_`), Slack tokens (`xoxa-` `xoxb-` `xoxp-` `xoxr-` `xoxs-` `xapp-`) and
//! `hooks.slack.com` webhooks, Google API keys (`AIza` + 35), OpenAI (`sk-`, `sk-proj-`)
//! and Anthropic (`sk-ant-`) keys with at least 20 characters after `sk-` including a
//! digit and a letter, Stripe live keys (`sk_live_`, `rk_live_`), PEM private-key blocks,
//! and JWTs (three base64url parts, the first a JSON object).

use crate::text::bytes::{at, before, find_bytes, run_end, starts_with, starts_with_ci};

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

/// The fixed prefixes secrets are found by. The engine puts them in its one automaton
/// (matched case-insensitively there; each validator then checks the exact case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// `AKIA`, `ASIA` + 16 upper-case letters or digits.
    AwsKeyId,
    /// A label such as `aws_secret_access_key`, then a 40-character key.
    AwsSecretLabel,
    /// `AIza` + 35 base64url characters.
    Google,
    /// `eyJ`: a JWT's header (`{"` in base64url).
    Jwt,
    /// `ghp_` `gho_` `ghu_` `ghs_` `ghr_`.
    GithubClassic,
    /// `github_pat_`.
    GithubFine,
    /// `xoxa-` `xoxb-` `xoxp-` `xoxr-` `xoxs-` `xapp-`.
    SlackToken,
    /// `hooks.slack.com/`.
    SlackWebhook,
    /// `sk-` (OpenAI, Anthropic `sk-ant-`, `sk-proj-`).
    OpenAi,
    /// `sk_live_`, `rk_live_`.
    Stripe,
    /// `-----BEGIN `.
    Pem,
}

/// Every prefix with its kind.
pub(crate) const PREFIXES: &[(&str, Prefix)] = &[
    ("AKIA", Prefix::AwsKeyId),
    ("ASIA", Prefix::AwsKeyId),
    ("AIza", Prefix::Google),
    ("eyJ", Prefix::Jwt),
    ("ghp_", Prefix::GithubClassic),
    ("gho_", Prefix::GithubClassic),
    ("ghu_", Prefix::GithubClassic),
    ("ghs_", Prefix::GithubClassic),
    ("ghr_", Prefix::GithubClassic),
    ("github_pat_", Prefix::GithubFine),
    ("xoxa-", Prefix::SlackToken),
    ("xoxb-", Prefix::SlackToken),
    ("xoxp-", Prefix::SlackToken),
    ("xoxr-", Prefix::SlackToken),
    ("xoxs-", Prefix::SlackToken),
    ("xapp-", Prefix::SlackToken),
    ("hooks.slack.com/", Prefix::SlackWebhook),
    ("sk-", Prefix::OpenAi),
    ("sk_live_", Prefix::Stripe),
    ("rk_live_", Prefix::Stripe),
    ("-----BEGIN ", Prefix::Pem),
    ("aws_secret_access_key", Prefix::AwsSecretLabel),
    ("aws-secret-access-key", Prefix::AwsSecretLabel),
    ("aws secret access key", Prefix::AwsSecretLabel),
    ("aws_secret_key", Prefix::AwsSecretLabel),
    ("aws secret key", Prefix::AwsSecretLabel),
    ("secret_access_key", Prefix::AwsSecretLabel),
    ("secretaccesskey", Prefix::AwsSecretLabel),
    ("secret access key", Prefix::AwsSecretLabel),
];

/// Token classes whose runs the validators measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    B64Url,
    Slack,
    UpperDigit,
    AwsKey,
    GithubFine,
}

impl Class {
    const ALL: [Class; 6] = [
        Class::Alnum,
        Class::B64Url,
        Class::Slack,
        Class::UpperDigit,
        Class::AwsKey,
        Class::GithubFine,
    ];

    /// The definition; [`BYTE_CLASSES`] is built from it.
    const fn defines(self, c: u8) -> bool {
        match self {
            Class::Alnum => c.is_ascii_alphanumeric(),
            Class::B64Url => c.is_ascii_alphanumeric() || c == b'-' || c == b'_',
            Class::Slack => c.is_ascii_alphanumeric() || c == b'-',
            Class::UpperDigit => c.is_ascii_uppercase() || c.is_ascii_digit(),
            Class::AwsKey => c.is_ascii_alphanumeric() || c == b'/' || c == b'+',
            Class::GithubFine => c.is_ascii_alphanumeric() || c == b'_',
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    #[cfg(test)]
    fn has(self, c: u8) -> bool {
        byte_class(c) & self.bit() != 0
    }
}

/// [`BYTE_CLASSES`]' bit for an ASCII digit.
const DIGIT: u8 = 1 << 6;
/// [`BYTE_CLASSES`]' bit for an ASCII letter.
const ALPHA: u8 = 1 << 7;

/// Per byte: a bit per [`Class`] it belongs to, and [`DIGIT`] and [`ALPHA`]. One load a byte
/// in the run measuring loop, where the class match and the digit and letter tests were
/// about twelve instructions (a run of `sk-sk-…` is measured once, but is the whole body).
static BYTE_CLASSES: [u8; 256] = {
    // Built at compile time, by slice patterns (no indexing, nothing that can panic).
    let mut t = [0u8; 256];
    let mut rest: &mut [u8] = &mut t;
    let mut b = 0u8;
    while let [slot, tail @ ..] = rest {
        let mut bits = 0u8;
        let mut classes: &[Class] = &Class::ALL;
        while let [class, more @ ..] = classes {
            if class.defines(b) {
                bits |= class.bit();
            }
            classes = more;
        }
        if b.is_ascii_digit() {
            bits |= DIGIT;
        } else if b.is_ascii_alphabetic() {
            bits |= ALPHA;
        }
        *slot = bits;
        rest = tail;
        b = b.wrapping_add(1);
    }
    t
};

fn byte_class(c: u8) -> u8 {
    BYTE_CLASSES.get(usize::from(c)).copied().unwrap_or(0)
}

/// A measured run of a class: where it was measured from, its end, and the last digit and
/// letter in it.
#[derive(Debug, Clone, Copy)]
struct Run {
    class: Class,
    from: usize,
    end: usize,
    last_digit: Option<usize>,
    last_alpha: Option<usize>,
    /// A JWT header's JSON was decoded and checked from inside this run already.
    json_checked: bool,
}

/// Runs measured so far in one text, so that no byte of a token is measured twice however
/// many prefixes sit inside it (`xoxb-xoxb-xoxb-…`): every query from inside a known run
/// is answered from it. This is what keeps the secret validators linear in the text.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    recent: [Option<Run>; 4],
    next: usize,
}

impl Runs {
    fn get(&mut self, b: &[u8], class: Class, from: usize) -> Run {
        let known = self
            .recent
            .iter()
            .flatten()
            .find(|r| r.class == class && r.from <= from && from < r.end.max(r.from + 1));
        if let Some(r) = known {
            return *r;
        }
        let mut run = Run {
            class,
            from,
            end: from,
            last_digit: None,
            last_alpha: None,
            json_checked: false,
        };
        let bit = class.bit();
        while let Some(&c) = b.get(run.end) {
            let bits = byte_class(c);
            if bits & bit == 0 {
                break;
            }
            if bits & DIGIT != 0 {
                run.last_digit = Some(run.end);
            } else if bits & ALPHA != 0 {
                run.last_alpha = Some(run.end);
            }
            run.end += 1;
        }
        if run.end > run.from {
            if let Some(slot) = self.recent.get_mut(self.next % 4) {
                *slot = Some(run);
            }
            self.next += 1;
        }
        run
    }

    /// The end of the `class` run from `from`.
    fn end(&mut self, b: &[u8], class: Class, from: usize) -> usize {
        self.get(b, class, from).end
    }

    fn mark_json_checked(&mut self, class: Class, from: usize) {
        for r in self.recent.iter_mut().flatten() {
            if r.class == class && r.from <= from && from < r.end {
                r.json_checked = true;
            }
        }
    }
}

/// The secret that the prefix `prefix` found at `i` starts, if it is one (its span may
/// start later, for a labelled AWS key, or earlier, for a webhook's scheme). Constant work
/// per call beside what `runs` measures once.
pub(crate) fn at_prefix(b: &[u8], i: usize, prefix: Prefix, runs: &mut Runs) -> Option<(usize, usize)> {
    let c = at(b, i);
    let p = before(b, i);
    let word_start = if c == b'-' {
        p != b'-' && !p.is_ascii_alphanumeric()
    } else {
        c.is_ascii_alphanumeric() && !p.is_ascii_alphanumeric()
    };
    if !word_start {
        return None;
    }
    match prefix {
        Prefix::AwsKeyId => aws_key_id(b, i, runs),
        Prefix::AwsSecretLabel => aws_secret(b, i, runs),
        Prefix::Google => google(b, i, runs),
        Prefix::Jwt => jwt(b, i, runs),
        Prefix::GithubClassic | Prefix::GithubFine => github(b, i, runs),
        Prefix::SlackToken => slack_token(b, i, runs),
        Prefix::SlackWebhook => slack_webhook(b, i),
        Prefix::OpenAi => sk(b, i, runs),
        Prefix::Stripe => stripe(b, i, runs),
        Prefix::Pem => pem(b, i),
    }
}

fn aws_key_id(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if !(starts_with(b, i, b"AKIA") || starts_with(b, i, b"ASIA")) {
        return None;
    }
    let e = runs.end(b, Class::UpperDigit, i + 4);
    (e - i == 20 && !alnum(at(b, e))).then_some((i, e))
}

fn google(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"AIza") {
        return None;
    }
    let e = runs.end(b, Class::B64Url, i + 4);
    (e - i == 39).then_some((i, e))
}

fn aws_secret(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    let label = AWS_SECRET_LABELS.iter().find(|l| starts_with_ci(b, i, l))?;
    let mut p = i + label.len();
    let sep_end = run_end(b, p, |c| matches!(c, b' ' | b'\t' | b'"' | b'\'' | b':' | b'='));
    if sep_end == p || sep_end - p > 8 {
        return None;
    }
    p = sep_end;
    let e = runs.end(b, Class::AwsKey, p);
    (e - p == 40 && at(b, e) != b'=').then_some((p, e))
}

fn github(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if starts_with(b, i, b"github_pat_") {
        let e = runs.end(b, Class::GithubFine, i + 11);
        return (e - (i + 11) >= 22).then_some((i, e));
    }
    let kind = at(b, i + 2);
    if !(starts_with(b, i, b"gh") && matches!(kind, b'p' | b'o' | b'u' | b's' | b'r')) || at(b, i + 3) != b'_' {
        return None;
    }
    let e = runs.end(b, Class::Alnum, i + 4);
    let n = e - (i + 4);
    ((36..=255).contains(&n) && at(b, e) != b'_').then_some((i, e))
}

fn slack_token(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    let token =
        starts_with(b, i, b"xox") && matches!(at(b, i + 3), b'a' | b'b' | b'p' | b'r' | b's') && at(b, i + 4) == b'-';
    if !(token || starts_with(b, i, b"xapp-")) {
        return None;
    }
    let p = i + 5;
    let run = runs.get(b, Class::Slack, p);
    let has_digit = run.last_digit.is_some_and(|d| d >= p);
    (run.end - p >= 10 && has_digit).then_some((i, run.end))
}

/// The path after the host cannot hold another `hooks.slack.com/` (no `.` in it), so each
/// byte is measured once without the run cache.
fn slack_webhook(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"hooks.slack.com/") {
        return None;
    }
    let p = i + 16;
    let path = [&b"services/"[..], b"workflows/", b"triggers/"]
        .into_iter()
        .find(|s| starts_with(b, p, s))?;
    let q = p + path.len();
    let e = run_end(b, q, |c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-'));
    if e - q < 20 {
        return None;
    }
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

fn sk(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"sk-") {
        return None;
    }
    let p = i + 3;
    let run = runs.get(b, Class::B64Url, p);
    let mixed = run.last_digit.is_some_and(|d| d >= p) && run.last_alpha.is_some_and(|a| a >= p);
    (run.end - p >= 20 && mixed).then_some((i, run.end))
}

fn stripe(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if !(starts_with(b, i, b"sk_live_") || starts_with(b, i, b"rk_live_")) {
        return None;
    }
    let e = runs.end(b, Class::Alnum, i + 8);
    (e - (i + 8) >= 16).then_some((i, e))
}

/// JWT headers up to this length are decoded whole and checked to be a JSON object (once
/// per run of base64url characters); longer ones, and further prefixes inside a run
/// already checked, by their first bytes and their closing brace.
const JWT_FULL_CHECK: usize = 768;

fn jwt(b: &[u8], i: usize, runs: &mut Runs) -> Option<(usize, usize)> {
    if !starts_with(b, i, b"eyJ") {
        return None;
    }
    let header = runs.get(b, Class::B64Url, i);
    let h = header.end;
    if h - i < 10 || at(b, h) != b'.' {
        return None;
    }
    let p = runs.end(b, Class::B64Url, h + 1);
    if p - (h + 1) < 2 || at(b, p) != b'.' {
        return None;
    }
    let s = runs.end(b, Class::B64Url, p + 1);
    if at(b, s) == b'.' || at(b, s) == b'=' {
        return None;
    }
    let head = b.get(i..h)?;
    let ok = if head.len() <= JWT_FULL_CHECK && !header.json_checked {
        runs.mark_json_checked(Class::B64Url, i);
        json_object(&decode_b64url(head)?)
    } else {
        plausible_header(head)
    };
    ok.then_some((i, s))
}

/// Bounded check of a base64url JWT header: its first bytes decode to printable JSON text
/// and its last byte to `}`.
fn plausible_header(head: &[u8]) -> bool {
    let first = decode_b64url(head.get(..16.min(head.len() / 4 * 4)).unwrap_or_default()).unwrap_or_default();
    let printable = first.iter().all(|&c| (0x20..0x7F).contains(&c));
    // The last quantum, aligned from the start of the header.
    let tail_start = (head.len().saturating_sub(1)) / 4 * 4;
    let last = decode_b64url(head.get(tail_start..).unwrap_or_default()).unwrap_or_default();
    printable && last.last() == Some(&b'}')
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

    /// The first secret, found from every prefix occurrence (as the automaton reports them).
    fn one(t: &str) -> Option<&str> {
        let b = t.as_bytes();
        let mut runs = Runs::default();
        let mut found = None;
        for i in 0..b.len() {
            for (p, kind) in PREFIXES {
                if b[i..].len() >= p.len() && b[i..i + p.len()].eq_ignore_ascii_case(p.as_bytes()) {
                    if let Some(span) = at_prefix(b, i, *kind, &mut runs) {
                        found.get_or_insert(span);
                    }
                }
            }
        }
        found.map(|(s, e)| &t[s..e])
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
    fn the_byte_table_is_the_class_definitions() {
        for c in 0..=255u8 {
            for class in Class::ALL {
                assert_eq!(class.has(c), class.defines(c), "{class:?} {c}");
            }
            assert_eq!(byte_class(c) & DIGIT != 0, c.is_ascii_digit(), "{c}");
            assert_eq!(byte_class(c) & ALPHA != 0, c.is_ascii_alphabetic(), "{c}");
        }
    }

    #[test]
    fn b64url_decoding() {
        assert_eq!(decode_b64url(b"eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
        assert_eq!(decode_b64url(b"a"), None);
    }
}
