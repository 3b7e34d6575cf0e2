//! Every provider transcript gives the usage in expected-usage.json, whole, split at every byte
//! offset, and fed one byte at a time.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fixture, fixtures_dir, for_each_offset, format_of, run, split};
use genai_usage::{usage_from_json, JsonText, StreamTracker, Usage};
use serde_json::Value;

fn expected() -> Vec<(String, Value)> {
    let raw = fixture("expected-usage.json");
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&raw).unwrap();
    map.into_iter().filter(|(k, _)| !k.starts_with('_')).collect()
}

fn usage_of(v: &Value) -> Usage {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"));
    Usage {
        input_tokens: n("input_tokens"),
        cached_input_tokens: n("cached_input_tokens"),
        cache_write_input_tokens: n("cache_write_input_tokens"),
        output_tokens: n("output_tokens"),
        reasoning_tokens: n("reasoning_tokens"),
    }
}

/// The request's message text, for fixtures recorded with their request.
fn prompt_of(name: &str) -> String {
    let Some(stem) = name.strip_suffix(".response.sse") else {
        return String::new();
    };
    let req: Value = serde_json::from_slice(&fixture(&format!("{stem}.request.json"))).unwrap();
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect()
}

#[test]
fn every_response_fixture_has_an_expectation() {
    let names: Vec<String> = expected().into_iter().map(|(k, _)| k).collect();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".request.json") || name == "README.md" || name == "expected-usage.json" {
            continue;
        }
        assert!(names.contains(&name), "{name} has no entry in expected-usage.json");
        seen += 1;
    }
    assert_eq!(seen, names.len(), "expected-usage.json names files that are missing");
}

#[test]
fn json_bodies() {
    let mut n = 0;
    for (name, want) in expected().iter().filter(|(k, _)| k.ends_with(".json")) {
        let got = usage_from_json(format_of(name), &fixture(name));
        assert_eq!(got, Some(usage_of(want)), "{name}");
        n += 1;
    }
    assert!(n >= 7, "only {n} JSON fixtures");
}

/// The bounded scan gives the same usage as parsing the whole body, split at every offset
/// and fed byte by byte.
#[test]
fn json_bodies_scanned_as_they_stream() {
    for (name, want) in expected().iter().filter(|(k, _)| k.ends_with(".json")) {
        let body = fixture(name);
        let format = format_of(name);
        let scan = |chunks: &[&[u8]]| {
            let mut j = JsonText::response(format, 1 << 16);
            for c in chunks {
                j.feed(c);
            }
            j
        };
        let mut whole = scan(&[&body]);
        assert_eq!(whole.usage(format), Some(usage_of(want)), "{name}");
        let whole_text = {
            let (text, total) = whole.text();
            (text.to_owned(), total)
        };
        // (Reasoning-only answers have an empty `content`: their text is empty.)
        if name == "openai-chat-basic.json" || name == "anthropic-basic.json" {
            assert!(whole_text.1 > 0, "{name}: no generated text found");
        }
        for_each_offset(body.len(), |at| {
            let mut j = scan(&split(&body, at));
            assert_eq!(j.usage(format), Some(usage_of(want)), "{name} split at {at}");
            let (text, total) = j.text();
            assert_eq!(
                (text, total),
                (whole_text.0.as_str(), whole_text.1),
                "{name} split at {at}"
            );
        });
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(scan(&bytes).usage(format), Some(usage_of(want)), "{name} bytewise");
    }
}

#[test]
fn streams_whole_split_and_bytewise() {
    let mut n = 0;
    for (name, want) in expected().iter().filter(|(k, _)| k.ends_with(".sse")) {
        let body = fixture(name);
        let format = format_of(name);
        let prompt = prompt_of(name);
        let tracker = || StreamTracker::new(format);
        let whole = run(tracker(), [&body[..]], &prompt);
        check(name, want, &whole);
        assert_eq!(
            whole.forwarded, body,
            "{name}: peek mode must forward the stream untouched"
        );
        for_each_offset(body.len(), |at| {
            let r = run(tracker(), split(&body, at), &prompt);
            assert_eq!(r, whole, "{name} split at {at}");
        });
        let bytewise = run(tracker(), body.chunks(1), &prompt);
        assert_eq!(bytewise, whole, "{name} one byte at a time");
        n += 1;
    }
    assert!(n >= 7, "only {n} SSE fixtures");
}

fn check(name: &str, want: &Value, r: &common::Run) {
    assert_eq!(r.first_content_feeds, usize::from(r.first_content_seen), "{name}");
    if want["estimated"].as_bool().unwrap() {
        // No usage in the stream: estimated from the request and the streamed text.
        assert!(r.finish.report.estimated, "{name}");
        assert_eq!(r.usage, None, "{name}");
        assert!(r.finish.report.usage.output_tokens > 0, "{name}: {:?}", r.finish.report);
        assert!(r.finish.report.usage.input_tokens > 0, "{name}: {:?}", r.finish.report);
        assert!(r.first_content_seen, "{name}");
        assert!(
            r.text.starts_with("Hi there! How can I help today?"),
            "{name}: {}",
            r.text
        );
        return;
    }
    assert_eq!(r.usage, Some(usage_of(want)), "{name}");
    assert_eq!(r.finish.report.usage, usage_of(want), "{name}");
    assert!(!r.finish.report.estimated, "{name}");
    let has_content = !name.contains("message_delta_usage") && !name.contains("streaming-detailed-usage");
    assert_eq!(r.first_content_seen, has_content, "{name}");
}

#[test]
fn stream_texts() {
    let text = |name: &str| run(StreamTracker::new(format_of(name)), [&fixture(name)[..]], "").text;
    assert_eq!(
        text("anthropic-stream_basic.sse"),
        "Hi there! How are you doing today? Is there anything I can help you with?"
    );
    assert_eq!(text("anthropic-stream_tool.sse"), "{\"location\":\"San Francisco\"}");
    assert_eq!(
        text("openai-responses-stream.sse"),
        "Hello{\"location\":\"San Francisco\"}"
    );
    assert!(text("openai-chat-stream.sse").contains("I’ll tailor my help."));
}

/// The fixtures' reporting quirks, stated directly.
#[test]
fn usage_rules() {
    use genai_usage::ApiFormat::*;
    // Floats, odd whitespace, missing fields, numeric strings.
    let body =
        br#" { "usage" : { "prompt_tokens" : 12.0 , "completion_tokens":"7", "completion_tokens_details": null } } "#;
    let u = usage_from_json(OpenAiChat, body).unwrap();
    assert_eq!((u.input_tokens, u.output_tokens, u.reasoning_tokens), (12, 7, 0));
    assert_eq!(usage_from_json(OpenAiChat, br#"{"usage":null}"#), None);
    assert_eq!(usage_from_json(OpenAiChat, br#"{"id":"x"}"#), None);
    assert_eq!(usage_from_json(OpenAiChat, b"not json"), None);
    let a = usage_from_json(
        AnthropicMessages,
        br#"{"usage":{"input_tokens":3,"cache_read_input_tokens":5,"output_tokens":2}}"#,
    );
    assert_eq!(a.unwrap().input_tokens, 8);
    // A stream's last non-null usage wins; null usage is ignored.
    let s = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n\
              data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\n\
              data: {\"choices\":[],\"usage\":null}\n\n";
    let r = run(StreamTracker::new(OpenAiChat), [&s[..]], "");
    assert_eq!(r.usage.map(|u| (u.input_tokens, u.output_tokens)), Some((2, 3)));
}

/// An Anthropic stream cut after message_start keeps the reported input and estimates output.
#[test]
fn anthropic_cut_short() {
    let body = fixture("anthropic-stream_basic.sse");
    let text = String::from_utf8(body).unwrap();
    let cut = text.find("event: content_block_stop").unwrap();
    let r = run(
        StreamTracker::new(genai_usage::ApiFormat::AnthropicMessages),
        [&text.as_bytes()[..cut]],
        "",
    );
    assert!(r.finish.report.estimated);
    assert_eq!(r.finish.report.usage.input_tokens, 15);
    assert!(r.finish.report.usage.output_tokens >= 15, "{:?}", r.finish.report);
}

/// `first_content` fires on the event with the first generated token, not before.
#[test]
fn first_content_timing() {
    let cases = [
        ("openai-chat-stream.sse", "\"content\":\"Hi\""),
        ("openai-recorded-chat-streaming.response.sse", "\"content\":\"Hi\""),
        ("anthropic-stream_basic.sse", "event: content_block_delta"),
        ("anthropic-stream_tool.sse", "event: content_block_delta"),
        ("openai-responses-stream.sse", "event: response.output_text.delta"),
    ];
    for (name, marker) in cases {
        let body = String::from_utf8(fixture(name)).unwrap();
        let mut t = StreamTracker::new(format_of(name));
        let mut fired = Vec::new();
        for event in body.split_inclusive("\n\n") {
            if t.feed(event.as_bytes()).first_content {
                fired.push(event);
            }
        }
        assert_eq!(fired.len(), 1, "{name}");
        assert!(fired[0].contains(marker), "{name}: fired on {}", fired[0]);
    }
    // Reasoning and tool-call deltas are content too; empty strings and role-only deltas are not.
    let mut t = StreamTracker::new(genai_usage::ApiFormat::OpenAiChat);
    assert!(
        !t.feed(b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n")
            .first_content
    );
    assert!(
        t.feed(b"data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Hm\"}}]}\n\n")
            .first_content
    );
    let mut t = StreamTracker::new(genai_usage::ApiFormat::OpenAiChat);
    let call = br#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}"#;
    assert!(t.feed(&[&call[..], b"\n\n"].concat()).first_content);
    assert_eq!(t.output_text(), "f");
}

/// Odd JSON does not lose the event's usage, and never panics.
#[test]
fn tolerant_events() {
    use genai_usage::ApiFormat::*;
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":[1,2]}}],\"usage\":null}\n\n\
        data: {\"choices\":{\"odd\":true},\"usage\":{\"prompt_tokens\":5.0,\"completion_tokens\":2}}\n\n\
        data: {not json\n\n";
    let r = run(StreamTracker::new(OpenAiChat), [&stream[..]], "");
    assert_eq!(r.usage.map(|u| (u.input_tokens, u.output_tokens)), Some((5, 2)));
    let anthropic =
        b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n\
        data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";
    let r = run(StreamTracker::new(AnthropicMessages), [&anthropic[..]], "");
    assert_eq!(r.finish.report.usage.input_tokens, 4);
    assert_eq!(r.finish.report.usage.output_tokens, 9);
    assert!(!r.finish.report.estimated);
}
