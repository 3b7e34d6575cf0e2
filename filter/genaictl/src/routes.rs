//! `genaictl routes CONFIG`: the Envoy routes the filter can send requests to, one JSON
//! object per line, as `scripts/render-envoy` must render them (a test compares the two).

use genai_policy::compile;

/// A JSON string literal (names in the configuration are plain, but escape anyway).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn routes(path: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let config = compile(&bytes).map_err(|e| format!("invalid {e}"))?;
    for r in config.routes() {
        let chain: Vec<String> = r
            .chain
            .iter()
            .filter_map(|i| config.models.get(*i))
            .map(|m| quote(&m.name))
            .collect();
        println!(
            "{{\"key\":{},\"chain\":[{}],\"cluster\":{},\"timeouts\":{{\"first_byte_ms\":{},\"stream_idle_ms\":{},\"max_retry_after_ms\":{}}},\"idle_ms\":{}}}",
            quote(&r.key),
            chain.join(","),
            quote(&r.cluster),
            r.timeouts.first_byte_ms,
            r.timeouts.stream_idle_ms,
            r.timeouts.max_retry_after_ms,
            r.idle_ms
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_as_json() {
        assert_eq!(quote("model:a+b"), "\"model:a+b\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
