//! Inputs the fuzzer (fuzz/, `sse_stream`) found, kept as tests.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_usage::sse::{SseEvent, SseParser};
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

fn run_chunked(body: &[u8], chunk: usize, max_event: usize) -> StreamTracker {
    let cuts: Vec<usize> = (chunk..body.len()).step_by(chunk).collect();
    run(body, &cuts, max_event)
}

/// An event over the cap is searched for usage in its last bytes (as many as the cap). The
/// line break after the line that went over the cap was kept only when that line had been
/// carried across chunks: with usage starting exactly that many bytes before the event's
/// end, one-byte chunks lost its first byte and the usage with it, a whole body did not
/// (fuzz/seeds/sse_stream/small-caps-differential, event cap 143). Every cap around the
/// event's size, every single cut and one-byte chunks, one line or two.
#[test]
fn an_oversized_events_tail_is_the_same_whole_or_split() {
    let usage = r#""usage": {"prompt_tokens": 11, "completion_tokens": 3}}"#;
    let pad = "p".repeat(60);
    let events = [
        format!(r#"data: {{"id": "c1", "choices": [], "pad": "{pad}", {usage}"#),
        format!("data: {{\"id\": \"c1\", \"choices\": [], \"pad\": \"{pad}\",\ndata: {usage}"),
    ];
    for event in events {
        let body = format!("{event}\n\ndata: [DONE]\n\n").into_bytes();
        let from_usage = event.len() - event.find(r#""usage""#).unwrap();
        for cap in from_usage - 4..event.len() + 4 {
            let whole = run(&body, &[], cap);
            // The tail holds the whole usage object exactly when the cap reaches its key.
            assert_eq!(whole.usage().is_some(), cap >= from_usage, "cap {cap}: {event:?}");
            for chunk in [1, 2, 3, 7] {
                let split = run_chunked(&body, chunk, cap);
                assert_eq!(whole.usage(), split.usage(), "cap {cap}, {chunk}-byte chunks");
                assert_eq!(whole.bad_events(), split.bad_events(), "cap {cap}, {chunk}-byte chunks");
            }
            for cut in 1..body.len() {
                let split = run(&body, &[cut], cap);
                assert_eq!(whole.usage(), split.usage(), "cap {cap}, cut at {cut}");
                assert_eq!(
                    whole.report_with(|_| 7),
                    split.report_with(|_| 7),
                    "cap {cap}, cut at {cut}"
                );
            }
        }
    }
}

/// The parser itself: an oversized event's tail is the same bytes however the stream is
/// chunked, its lines joined by one `\n` and no break after its last line.
#[test]
fn an_oversized_events_tail_does_not_depend_on_the_chunking() {
    let input = b"data: 0123456789\n: note\nid: 7\r\ndata: abcdefghij\rdata: KLMNOP\n\ndata: next\n\n";
    // From a cap the first line alone outgrows to 33, where the whole event fits.
    for cap in 8..33 {
        let feed = |chunk: usize| {
            let mut p = SseParser::with_max_event_bytes(cap).keep_oversized_tail(cap.min(24));
            let mut got: Vec<SseEvent> = input.chunks(chunk).flat_map(|c| p.feed(c)).collect();
            p.finish(|e| got.push(e.to_event()));
            got
        };
        let whole = feed(input.len());
        assert!(whole[0].truncated, "cap {cap}: {whole:?}");
        let expected = "abcdefghij\ndata: KLMNOP";
        let kept = expected.len().min(cap.min(24));
        assert!(
            whole[0].data.ends_with(&expected[expected.len() - kept..]),
            "cap {cap}: {whole:?}"
        );
        assert!(!whole[0].data.ends_with('\n'), "cap {cap}: {whole:?}");
        for chunk in 1..input.len() {
            assert_eq!(feed(chunk), whole, "cap {cap}, {chunk}-byte chunks");
        }
    }
}
