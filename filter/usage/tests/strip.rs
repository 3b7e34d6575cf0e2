//! Strip mode removes exactly the usage-only chunk the gateway forced, however the stream is
//! chunked; peek mode forwards everything untouched.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fixture, for_each_offset, run, split};
use genai_usage::{ApiFormat, Forward, StreamTracker, Usage};
use std::ops::Range;

const FIXTURES: [(&str, Usage); 2] = [
    (
        "openai-chat-stream.sse",
        Usage {
            input_tokens: 18,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
            output_tokens: 286,
            reasoning_tokens: 192,
        },
    ),
    (
        "openai-recorded-chat-streaming-detailed-usage.response.sse",
        Usage {
            input_tokens: 12,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
            output_tokens: 100,
            reasoning_tokens: 100,
        },
    ),
];

fn strip() -> StreamTracker {
    StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The byte range of the (single) usage-only event: its `data:` line through its blank line.
fn usage_event(body: &[u8], eol: &[u8]) -> Range<usize> {
    let at = find(body, b"\"choices\":[],\"usage\":{", 0).expect("usage-only chunk");
    let start = body[..at].windows(5).rposition(|w| w == b"data:").unwrap();
    let blank = [eol, eol].concat();
    let end = find(body, &blank, at).unwrap() + blank.len();
    start..end
}

fn without(body: &[u8], r: &Range<usize>) -> Vec<u8> {
    [&body[..r.start], &body[r.end..]].concat()
}

fn with_eol(body: &[u8], eol: &[u8]) -> Vec<u8> {
    body.split(|&b| b == b'\n').collect::<Vec<_>>().join(eol)
}

#[test]
fn strips_only_the_usage_event_at_every_split() {
    for (name, usage) in FIXTURES {
        let body = fixture(name);
        let cut = usage_event(&body, b"\n");
        let want = without(&body, &cut);
        assert_eq!(body.len() - want.len(), cut.len());
        let whole = run(strip(), [&body[..]], "");
        assert_eq!(whole.forwarded, want, "{name}");
        assert_eq!(whole.usage, Some(usage), "{name}");
        assert!(!whole.finish.report.estimated);
        for_each_offset(body.len(), |at| {
            let r = run(strip(), split(&body, at), "");
            assert_eq!(r.forwarded, want, "{name} split at {at}");
            assert_eq!(r.usage, Some(usage), "{name} split at {at}");
        });
        let r = run(strip(), body.chunks(1), "");
        assert_eq!(r.forwarded, want, "{name} bytewise");
        assert_eq!(r.usage, Some(usage), "{name} bytewise");
    }
}

/// Complete events go out at once; only the unfinished one is held back.
#[test]
fn holds_back_only_the_unfinished_event() {
    let body = fixture(FIXTURES[1].0);
    let cut = usage_event(&body, b"\n");
    for at in 0..=body.len() {
        let boundary = (0..=at)
            .rev()
            .find(|&b| b == 0 || body[..b].ends_with(b"\n\n"))
            .unwrap();
        let mut t = strip();
        let first = match t.feed(&body[..at]).forward {
            Forward::Unchanged => body[..at].to_vec(),
            Forward::Replace(v) => v,
        };
        let head = &body[..boundary];
        let want = if cut.end <= boundary {
            without(head, &cut)
        } else {
            head.to_vec()
        };
        assert_eq!(first, want, "split at {at}");
    }
}

#[test]
fn crlf_and_cr_line_endings() {
    for eol in [&b"\r\n"[..], b"\r"] {
        for (name, usage) in FIXTURES {
            let body = with_eol(&fixture(name), eol);
            let want = without(&body, &usage_event(&body, eol));
            let check = |r: common::Run, how: &str| {
                assert_eq!(
                    String::from_utf8_lossy(&r.forwarded),
                    String::from_utf8_lossy(&want),
                    "{name} {eol:?} {how}"
                );
                assert_eq!(r.usage, Some(usage), "{name} {eol:?} {how}");
            };
            check(run(strip(), [&body[..]], ""), "whole");
            check(run(strip(), body.chunks(1), ""), "bytewise");
            if body.len() < 4096 {
                for at in 0..=body.len() {
                    check(run(strip(), split(&body, at), ""), &format!("split at {at}"));
                }
            }
        }
    }
}

#[test]
fn peek_mode_never_copies() {
    for (name, usage) in FIXTURES {
        let body = fixture(name);
        for chunk_size in [1, 7, 64, 1000, body.len()] {
            let mut t = StreamTracker::new(ApiFormat::OpenAiChat);
            for chunk in body.chunks(chunk_size) {
                assert_eq!(t.feed(chunk).forward, Forward::Unchanged, "{name}");
            }
            let fin = t.finish("");
            assert!(fin.tail.is_empty());
            assert_eq!(fin.report.usage, usage);
        }
    }
}

#[test]
fn keeps_comments_and_other_chunks() {
    let body = b": keep-alive\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
        : before usage\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
        data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
        data: [DONE]\n\n";
    let text = String::from_utf8_lossy(body);
    let start = text.find("data: {\"choices\":[],").unwrap();
    let end = text[start..].find("\n\n").unwrap() + start + 2;
    let want = [&body[..start], &body[end..]].concat();
    for_each_offset(body.len(), |at| {
        assert_eq!(run(strip(), split(body, at), "").forwarded, want, "split at {at}");
    });
}

/// An event over the size cap is not read, and once past the cap no longer held back.
#[test]
fn oversized_events_pass_through() {
    let body = fixture(FIXTURES[1].0);
    let tracker = || strip().max_event_bytes(100);
    let r = run(tracker(), body.chunks(10), "Hello");
    assert_eq!(r.forwarded, body);
    assert_eq!(r.usage, None);
    assert!(r.finish.report.estimated);
    let mut t = tracker();
    let (mut fed, mut sent) = (0, 0);
    for chunk in body.chunks(10) {
        fed += chunk.len();
        sent += match t.feed(chunk).forward {
            Forward::Unchanged => chunk.len(),
            Forward::Replace(v) => v.len(),
        };
        // Held back: at most the cap plus a field name and line ending.
        assert!(fed - sent <= 100 + 8, "{fed} fed, {sent} sent");
    }
    assert_eq!(t.bad_events(), 3);
}

/// A stream that ends inside an event: the tail goes out unchanged and its usage still counts.
#[test]
fn unterminated_tail_is_flushed_and_read() {
    let body = fixture(FIXTURES[1].0);
    let end = find(&body, b"data: [DONE]", 0).unwrap() - 2; // drop the usage event's blank line
    let body = &body[..end];
    let r = run(strip(), [body], "");
    assert_eq!(r.forwarded, body);
    assert_eq!(r.usage, Some(FIXTURES[1].1));
    assert!(!r.finish.report.estimated);
}

/// `end_stream` gives the same tail as `finish`, and `report` the same usage afterwards.
#[test]
fn end_stream_then_report() {
    let body = fixture(FIXTURES[1].0);
    let (head, _) = body.split_at(body.len() - 20);
    let mut a = strip();
    let mut b = strip();
    a.feed(head);
    b.feed(head);
    let fin = a.finish("Hello");
    assert_eq!(b.end_stream(), fin.tail);
    assert!(!fin.tail.is_empty());
    assert_eq!(b.report("Hello"), fin.report);
}

/// Feeds `body` in `size`-byte chunks; checks after each that at most `bound` bytes are held
/// back, and returns what was forwarded.
fn held_within(mut t: StreamTracker, body: &[u8], size: usize, bound: usize) -> (Vec<u8>, StreamTracker) {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        match t.feed(chunk).forward {
            Forward::Unchanged => out.extend_from_slice(chunk),
            Forward::Replace(v) => out.extend_from_slice(&v),
        }
        let held = t.held_bytes().0;
        assert!(held <= bound, "{held} bytes held back after {} fed", out.len() + held);
        assert!(t.held_bytes().1 as usize <= body.len());
    }
    out.extend_from_slice(&t.end_stream());
    (out, t)
}

/// An upstream that streams `id:` lines, or never ends an event with a blank line, is not
/// held back: past a few lines an unfinished event goes on as it comes.
#[test]
fn id_lines_and_missing_blank_lines_never_stall() {
    let ids: String = (0..2000).map(|i| format!("id: {i}\n")).collect();
    let no_blank: String = (0..2000)
        .map(|i| format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}],\"usage\":null}}\n"))
        .collect();
    let unknown: String = (0..2000).map(|i| format!("x-heartbeat: {i}\ndata: {{}}\n")).collect();
    for body in [ids, no_blank, unknown] {
        for size in [1, 7, 100, 4096] {
            // At most the few lines an event may have before it is let through, and a partial one.
            let (out, _) = held_within(strip(), body.as_bytes(), size, 4 * 120 + size);
            assert_eq!(out, body.as_bytes(), "chunks of {size}");
        }
    }
}

/// A line that never ends is held back at most up to the cap, then let through.
#[test]
fn a_line_that_never_ends_goes_through() {
    let body = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}",
        "x".repeat(1 << 20)
    );
    for size in [1000, 65536] {
        let (out, t) = held_within(strip().max_held_bytes(8192), body.as_bytes(), size, 8192);
        assert_eq!(out, body.as_bytes());
        assert!(t.held_bytes().1 <= 8192 + size as u64, "{:?}", t.held_bytes());
    }
}

/// Held bytes are copied once: feeding an event byte by byte copies each byte into the hold
/// buffer once, not the whole buffer again on every chunk.
#[test]
fn held_bytes_are_copied_once() {
    let body = fixture(FIXTURES[1].0);
    let cut = usage_event(&body, b"\n");
    let mut t = strip();
    let mut out = Vec::new();
    for chunk in body.chunks(1) {
        match t.feed(chunk).forward {
            Forward::Unchanged => out.extend_from_slice(chunk),
            Forward::Replace(v) => out.extend_from_slice(&v),
        }
    }
    out.extend_from_slice(&t.end_stream());
    assert_eq!(out, without(&body, &cut));
    let (_, copied) = t.held_bytes();
    assert!(
        copied <= body.len() as u64,
        "{copied} bytes copied for {} fed",
        body.len()
    );
}

/// The usage event of a Responses stream embeds the whole output: past the parse cap its
/// usage is still read, from the event's end, whatever the chunking.
#[test]
fn usage_at_the_end_of_an_oversized_event() {
    let text = "lorem ipsum dolor sit amet ".repeat(10_000); // 270 KB of output
    let completed = format!(
        "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"id\":\"r\",\"output\":[{{\"type\":\"message\",\"content\":[{{\"type\":\"output_text\",\"text\":\"{text}\"}}]}}],\"usage\":{{\"input_tokens\":11,\"output_tokens\":60000,\"total_tokens\":60011,\"output_tokens_details\":{{\"reasoning_tokens\":7}}}},\"user\":null}}}}\n\n"
    );
    let body = format!(
        "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"delta\":\"lorem\"}}\n\n{completed}"
    );
    let want = Usage {
        input_tokens: 11,
        cached_input_tokens: 0,
        cache_write_input_tokens: 0,
        output_tokens: 60000,
        reasoning_tokens: 7,
    };
    for size in [1usize << 20, 65536, 4096, 333] {
        let t = StreamTracker::new(ApiFormat::OpenAiResponses);
        let r = run(t, body.as_bytes().chunks(size), "");
        assert_eq!(r.usage, Some(want), "chunks of {size}");
        assert!(!r.finish.report.estimated);
        assert_eq!(r.forwarded, body.as_bytes());
    }
}

/// An upstream that ends its events with one line break (or an `id:` line) instead of a blank
/// line sends one endless event: it is let through as it comes, and when it ends its lines are
/// read one by one, so the usage it reported still counts.
#[test]
fn events_without_blank_lines_still_count() {
    let body = fixture(FIXTURES[0].0);
    let text = String::from_utf8(body).unwrap();
    let one_lf = text.replace("\n\n", "\n");
    let mut n = 0;
    let id_lines = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            n += 1;
            format!("{e}\nid: {n}\n")
        })
        .collect::<String>();
    for broken in [one_lf, id_lines] {
        for size in [1, 100, broken.len()] {
            let r = run(strip(), broken.as_bytes().chunks(size), "");
            assert_eq!(r.forwarded, broken.as_bytes(), "passed through unchanged");
            assert_eq!(r.usage, Some(FIXTURES[0].1), "chunks of {size}");
            assert!(!r.finish.report.estimated);
            assert!(r.text.contains("I’ll tailor my help."), "{}", r.text);
        }
    }
}
