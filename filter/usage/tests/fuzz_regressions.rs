//! Inputs the fuzzer (fuzz/, `sse_stream`) found, kept as tests.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_usage::{ApiFormat, StreamTracker};

fn run(body: &[u8], cuts: &[usize], max_event: usize) -> StreamTracker {
    let mut t = StreamTracker::new(ApiFormat::OpenAiChat).max_event_bytes(max_event);
    let mut at = 0;
    for &c in cuts.iter().chain([body.len()].iter()) {
        t.feed(&body[at..c]);
        at = c;
    }
    t.end_stream();
    t
}

/// A field line over the event cap was cut (and its end searched for usage) when it arrived
/// split across chunks, but ignored when it arrived whole: the usage depended on the chunking.
#[test]
fn a_long_non_data_line_meets_the_cap_however_it_is_split() {
    let mut body = b"x-note: ".to_vec();
    body.extend_from_slice(&[b'a'; 80]);
    body.extend_from_slice(br#""usage":{"prompt_tokens":5,"completion_tokens":2}}"#);
    body.extend_from_slice(b"\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
    let whole = run(&body, &[], 64);
    for cut in 1..body.len() {
        let split = run(&body, &[cut], 64);
        assert_eq!(whole.usage(), split.usage(), "cut at {cut}");
        assert_eq!(whole.report_with(|_| 7), split.report_with(|_| 7), "cut at {cut}");
        assert_eq!(whole.bad_events(), split.bad_events(), "cut at {cut}");
    }
}

/// The same for a data line whose value fits the cap but whose line (with `data: `) does not.
#[test]
fn a_data_line_at_the_cap_is_judged_the_same_whole_or_split() {
    let value = format!(
        r#"{{"choices":[],"usage":{{"prompt_tokens":3,"completion_tokens":1}},"pad":"{}"}}"#,
        "p".repeat(20)
    );
    let body = format!("data: {value}\n\n").into_bytes();
    for cap in value.len() - 2..value.len() + 8 {
        let whole = run(&body, &[], cap);
        for cut in 1..body.len() {
            let split = run(&body, &[cut], cap);
            assert_eq!(whole.usage(), split.usage(), "cap {cap}, cut at {cut}");
            assert_eq!(whole.bad_events(), split.bad_events(), "cap {cap}, cut at {cut}");
        }
    }
}

/// Invalid UTF-8 decodes to U+FFFD (three bytes for one): the cap counted the raw bytes of a
/// data line read in place but the decoded bytes of one copied across a chunk boundary.
#[test]
fn invalid_utf8_counts_the_same_against_the_cap_whole_or_split() {
    let mut value = br#"{"choices":[],"pad":""#.to_vec();
    value.extend_from_slice(&[0xff; 12]);
    value.extend_from_slice(br#"","usage":{"prompt_tokens":3,"completion_tokens":1}}"#);
    let mut body = b"data: ".to_vec();
    body.extend_from_slice(&value);
    body.extend_from_slice(b"\n\n");
    for cap in value.len() + 6..value.len() + 30 {
        let whole = run(&body, &[], cap);
        for cut in 1..body.len() {
            let split = run(&body, &[cut], cap);
            assert_eq!(whole.usage(), split.usage(), "cap {cap}, cut at {cut}");
            assert_eq!(whole.bad_events(), split.bad_events(), "cap {cap}, cut at {cut}");
        }
    }
}
