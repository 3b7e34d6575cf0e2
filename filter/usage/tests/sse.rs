//! SSE parser edge cases.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use genai_usage::sse::{SseEvent, SseParser};

fn ev(event: Option<&str>, data: &str, start: u64, end: u64) -> SseEvent {
    SseEvent {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        start,
        end,
        truncated: false,
        data_lines: data.split('\n').count(),
    }
}

/// Feeds `chunks` then finishes, returning every event.
fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| p.feed(c)).collect();
    p.finish(|e| out.push(e.to_event()));
    out
}

/// Parses `input` whole, split at every offset and byte by byte, checking all agree.
fn parse_all_ways(input: &[u8]) -> Vec<SseEvent> {
    let whole = parse(&[input]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        let mut got = parse(&[a, b]);
        // Documented: an event ended by a CR that closes a chunk ends there, even if the next
        // chunk starts with the LF of a CRLF.
        for e in &mut got {
            if e.end == at as u64 && input[..at].ends_with(b"\r") && input[at..].starts_with(b"\n") {
                e.end += 1;
            }
        }
        assert_eq!(got, whole, "split at {at} of {:?}", String::from_utf8_lossy(input));
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let data = |v: Vec<SseEvent>| v.into_iter().map(|e| (e.event, e.data, e.start)).collect::<Vec<_>>();
    assert_eq!(data(parse(&bytes)), data(whole.clone()), "bytewise");
    whole
}

#[test]
fn basic_fields() {
    let input = b"event: message_start\ndata: {\"a\":1}\n\ndata:no-space\n\n";
    assert_eq!(
        parse_all_ways(input),
        [
            ev(Some("message_start"), "{\"a\":1}", 0, 36),
            ev(None, "no-space", 36, 51)
        ]
    );
}

#[test]
fn only_one_leading_space_is_removed() {
    assert_eq!(parse_all_ways(b"data:  two\n\n")[0].data, " two");
}

#[test]
fn line_endings() {
    for input in [
        &b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"[..],
        b"data: a\rdata: b\r\rdata: c\r\r",
        b"data: a\ndata: b\n\ndata: c\n\n",
    ] {
        let got = parse_all_ways(input);
        let data: Vec<&str> = got.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["a\nb", "c"], "{input:?}");
        assert_eq!(got[1].end, input.len() as u64);
    }
    // Mixed endings; a CRLF split between chunks is one line ending, not two.
    assert_eq!(parse(&[b"data: x\r", b"\ndata: y\n\n"]), [ev(None, "x\ny", 0, 18)]);
    assert_eq!(parse(&[b"data: x\r", b"", b"\n\r\n"]), [ev(None, "x", 0, 11)]);
}

#[test]
fn utf8_split_inside_a_character() {
    let input = "data: café 😀 ünïcødé\n\n".as_bytes();
    assert_eq!(parse_all_ways(input)[0].data, "café 😀 ünïcødé");
    // Invalid UTF-8 is replaced, not fatal.
    assert_eq!(parse(&[b"data: \xff\xfe\n\n"])[0].data, "\u{fffd}\u{fffd}");
}

#[test]
fn comments_and_ignored_fields() {
    let input = b": ping\n\nid: 7\nretry: 100\nfoo: bar\ndata\ndata: x\n: inside\n\n:\n\n";
    let got = parse_all_ways(input);
    // The event starts at its first field line (`id:`), not at the comment block before it.
    assert_eq!(got, [ev(None, "\nx", 8, 57)]);
}

#[test]
fn blank_lines_without_data_dispatch_nothing() {
    assert!(parse_all_ways(b"\n\n\nevent: x\n\n: c\n\n").is_empty());
    // An empty `data:` line is still data.
    assert_eq!(parse_all_ways(b"data:\n\n"), [ev(None, "", 0, 7)]);
}

#[test]
fn event_type_resets_between_events() {
    let got = parse_all_ways(b"event: a\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n");
    let types: Vec<Option<&str>> = got.iter().map(|e| e.event.as_deref()).collect();
    assert_eq!(types, [Some("a"), None, None]);
}

#[test]
fn bom_is_stripped_from_the_first_line_only() {
    let got = parse_all_ways(b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, "a");
}

/// Choice: at end of stream an unterminated event with data is dispatched (the WHATWG rules
/// discard it), so a usage event cut off before its blank line still counts.
#[test]
fn unterminated_last_event_is_dispatched_at_finish() {
    assert_eq!(
        parse_all_ways(b"data: a\n\ndata: b"),
        [ev(None, "a", 0, 9), ev(None, "b", 9, 16)]
    );
    assert_eq!(
        parse_all_ways(b"data: a\n\ndata: b\n"),
        [ev(None, "a", 0, 9), ev(None, "b", 9, 17)]
    );
    assert_eq!(parse_all_ways(b"data: a\n\nevent: x"), [ev(None, "a", 0, 9)]);
}

#[test]
fn oversized_event_is_dropped_and_counted() {
    let big = format!("data: {}\n\n", "x".repeat(200));
    let input = format!("data: small\n\n{big}data: after\n\n");
    for chunk in [1, 3, 50, input.len()] {
        let mut p = SseParser::with_max_event_bytes(100);
        let mut got: Vec<SseEvent> = input.as_bytes().chunks(chunk).flat_map(|c| p.feed(c)).collect();
        p.finish(|e| got.push(e.to_event()));
        let data: Vec<&str> = got.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["small", "after"], "chunk {chunk}");
        assert_eq!(p.errors(), 1);
    }
    // Many short data lines add up too; and an oversized unterminated tail is dropped at finish.
    let mut p = SseParser::with_max_event_bytes(100);
    let many = "data: 0123456789\n".repeat(20);
    assert!(p.feed(format!("{many}\n").as_bytes()).is_empty());
    p.feed(many.as_bytes());
    let mut tail = Vec::new();
    p.finish(|e| tail.push(e.to_event()));
    assert!(tail.is_empty());
    assert_eq!(p.errors(), 2);
}

#[test]
fn huge_line_without_newline_stays_bounded() {
    let mut p = SseParser::with_max_event_bytes(1 << 10);
    p.feed(b"data: ");
    for _ in 0..10_000 {
        p.feed(&[b'x'; 1000]);
    }
    assert_eq!(p.pending_start(), p.position(), "nothing held while discarding");
    assert_eq!(p.feed(b"\n\ndata: ok\n\n")[0].data, "ok");
    assert_eq!(p.errors(), 1);
}

/// With `keep_oversized_tail`, an event over the cap is dispatched at its end with its last
/// bytes, however it is chunked; events around it are untouched.
#[test]
fn oversized_event_tail_is_kept_when_asked() {
    let big = format!("event: big\ndata: {}\ndata: END\n\n", "x".repeat(300));
    let input = format!("data: small\n\n{big}data: after\n\n");
    for chunk in [1, 3, 50, 64, input.len()] {
        let mut p = SseParser::with_max_event_bytes(100).keep_oversized_tail(16);
        let mut got: Vec<SseEvent> = input.as_bytes().chunks(chunk).flat_map(|c| p.feed(c)).collect();
        p.finish(|e| got.push(e.to_event()));
        assert_eq!(got.len(), 3, "chunk {chunk}: {got:?}");
        assert_eq!((got[0].data.as_str(), got[0].truncated), ("small", false));
        let t = &got[1];
        assert!(t.truncated, "chunk {chunk}");
        assert_eq!(t.event.as_deref(), Some("big"));
        assert!(
            t.data.len() <= 16 && t.data.ends_with("\ndata: END"),
            "chunk {chunk}: {:?}",
            t.data
        );
        assert_eq!((t.start, t.end), (13, 13 + big.len() as u64));
        assert_eq!((got[2].data.as_str(), got[2].truncated), ("after", false));
        assert_eq!(p.errors(), 1);
    }
    // Unterminated at the end of the stream: dispatched by finish.
    let mut p = SseParser::with_max_event_bytes(10).keep_oversized_tail(8);
    assert!(p.feed(b"data: 0123456789abcdef").is_empty());
    let mut tail = Vec::new();
    p.finish(|e| tail.push(e.to_event()));
    assert_eq!(tail.len(), 1);
    assert!(tail[0].truncated && tail[0].data.ends_with("abcdef"), "{tail:?}");
}
