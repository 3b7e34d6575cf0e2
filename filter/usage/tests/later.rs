//! After a stream's first token only its usage matters: text events are kept raw (bounded)
//! and read only for an estimate, and an OpenAI chunk is searched once for `"usage"` keys.
//! Usage stays exact however the stream is chunked; the estimate, when needed, reads the
//! same text as a full parse would have.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{for_each_offset, run, split};
use genai_usage::{ApiFormat, StreamTracker, Usage};

fn openai_event(content: &str) -> String {
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
    )
}

const USAGE: &str = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2000,\"total_tokens\":2009}}\n\ndata: [DONE]\n\n";

/// 2,000 events of `abcd` after a first one of `Hi`: 8,002 bytes of text.
fn long_stream(with_usage: bool) -> Vec<u8> {
    let mut s = openai_event("Hi");
    for _ in 0..2000 {
        s.push_str(&openai_event("abcd"));
    }
    if with_usage {
        s.push_str(USAGE);
    }
    s.into_bytes()
}

#[test]
fn usage_after_a_long_burst_is_exact_in_one_chunk_or_many() {
    let body = long_stream(true);
    let want = Usage {
        input_tokens: 9,
        output_tokens: 2000,
        ..Usage::default()
    };
    for strip in [false, true] {
        let t = || StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(strip);
        let whole = run(t(), [&body[..]], "prompt");
        assert_eq!(whole.usage, Some(want), "strip={strip}");
        assert!(!whole.finish.report.estimated);
        if strip {
            let forwarded = String::from_utf8(whole.forwarded.clone()).unwrap();
            assert!(
                !forwarded.contains("completion_tokens"),
                "the forced usage chunk went through"
            );
            assert!(forwarded.ends_with("data: [DONE]\n\n"));
        }
        for at in (0..body.len()).step_by(997) {
            let r = run(t(), split(&body, at), "prompt");
            assert_eq!(r.usage, Some(want), "strip={strip} split at {at}");
            assert_eq!(r.forwarded, whole.forwarded, "strip={strip} split at {at}");
        }
    }
}

/// Without usage the text is read from the kept events at the end: all of it while they fit
/// their cap (the same text a full parse reads), scaled by bytes past it.
#[test]
fn text_after_the_first_token_is_read_at_the_end_and_scaled_past_the_cap() {
    let body = long_stream(false);
    let r = run(StreamTracker::new(ApiFormat::OpenAiChat), [&body[..]], "prompt");
    assert!(r.finish.report.estimated);
    assert!(r.text.starts_with("Hiabcdabcd"), "{}", &r.text[..20]);
    // 64 KiB of raw events keep a quarter of the text here; the rest is counted, by bytes.
    assert!(r.text.len() < 8002 && r.text.len() > 1000, "{}", r.text.len());
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat);
    t.feed(&body);
    assert_eq!(t.output_text_bytes(), 8002);
    // While the events fit, all their text is read: what a full parse of each reads.
    let short = &body[..openai_event("Hi").len() + 100 * openai_event("abcd").len()];
    let r = run(StreamTracker::new(ApiFormat::OpenAiChat), [short], "prompt");
    assert_eq!(r.text, format!("Hi{}", "abcd".repeat(100)));
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat).max_text_bytes(4096);
    t.feed(&body);
    let text = t.output_text();
    assert!(text.len() <= 4096 && text.starts_with("Hiabcd"), "{}", text.len());
    // The kept events are all alike: the scaled count is exact here.
    assert_eq!(t.output_text_bytes(), 8002);
    let full = StreamTracker::new(ApiFormat::OpenAiChat);
    let r_full = run(full, [&body[..]], "prompt");
    let capped = run(
        StreamTracker::new(ApiFormat::OpenAiChat).max_text_bytes(4096),
        [&body[..]],
        "prompt",
    );
    let (a, b) = (
        r_full.finish.report.usage.output_tokens,
        capped.finish.report.usage.output_tokens,
    );
    assert!(a > 0 && b > 0);
    assert!(
        a.abs_diff(b) * 10 <= a,
        "a sample of the text estimates {b} tokens, all of it {a}"
    );
}

/// A usage key whose `:` is on the next `data:` line (one JSON value over two lines), after
/// a `"usage":null` in the same chunk: the chunk's search must not rule it out.
#[test]
fn a_usage_value_on_the_next_data_line_is_read() {
    let mut body = openai_event("Hi");
    body.push_str(&openai_event("there"));
    body.push_str("data: {\"choices\":[],\"usage\"\ndata: : {\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n");
    let body = body.into_bytes();
    let want = Usage {
        input_tokens: 3,
        output_tokens: 2,
        ..Usage::default()
    };
    for_each_offset(body.len(), |at| {
        let r = run(StreamTracker::new(ApiFormat::OpenAiChat), split(&body, at), "");
        assert_eq!(r.usage, Some(want), "split at {at}");
    });
}

/// `"usage" : null` with spaces, or `"usage"` inside a text, is no usage; `"usage" : {` is.
#[test]
fn usage_keys_are_told_from_nulls_and_text() {
    let mut body = openai_event("Hi");
    body.push_str("data: {\"choices\":[{\"delta\":{\"content\":\"the \\\"usage\\\" word\"}}],\"usage\" :\tnull}\n\n");
    body.push_str("data: {\"choices\":[],\"usage\" : {\"prompt_tokens\":4,\"completion_tokens\":1}}\n\n");
    let body = body.into_bytes();
    let r = run(StreamTracker::new(ApiFormat::OpenAiChat), [&body[..]], "");
    assert_eq!(r.usage.map(|u| (u.input_tokens, u.output_tokens)), Some((4, 1)));
    let r = run(
        StreamTracker::new(ApiFormat::OpenAiChat),
        [&body[..body.len() - 70]],
        "",
    );
    assert_eq!(r.usage, None);
    assert_eq!(r.text, "Hithe \"usage\" word");
}
