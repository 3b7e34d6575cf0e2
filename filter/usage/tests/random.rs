//! Randomised chunkings (fixed seed): the parser and the tracker give the same answer however
//! a stream is cut.

// Test code: the no-panic rules are for code that runs in Envoy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{fixture, format_of, run};
use genai_usage::sse::{SseEvent, SseParser};
use genai_usage::StreamTracker;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Cuts `bytes` at the given (unsorted, possibly repeated) offsets.
fn chunks(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c %= bytes.len() + 1);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        out.push(&bytes[at..c]);
        at = c;
    }
    out
}

fn line_text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace(['\r', '\n'], ""))
}

#[derive(Debug, Clone)]
struct Ev {
    comment: bool,
    event: Option<String>,
    data: Vec<String>,
    eol: &'static str,
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    let ev = (
        any::<bool>(),
        proptest::option::of(line_text()),
        proptest::collection::vec(line_text(), 0..4),
        0..3usize,
    );
    let ev = ev.prop_map(|(comment, event, data, eol)| Ev {
        comment,
        event,
        data,
        eol: ["\n", "\r\n", "\r"][eol],
    });
    proptest::collection::vec(ev, 0..8)
}

fn render(evs: &[Ev]) -> (Vec<u8>, Vec<(Option<String>, String)>) {
    let mut out = String::new();
    let mut want = Vec::new();
    for e in evs {
        if e.comment {
            out += &format!(": note{}", e.eol);
        }
        if let Some(name) = &e.event {
            out += &format!("event: {name}{}", e.eol);
        }
        for d in &e.data {
            out += &format!("data: {d}{}", e.eol);
        }
        out += e.eol;
        if !e.data.is_empty() {
            want.push((e.event.clone().filter(|n| !n.is_empty()), e.data.join("\n")));
        }
    }
    (out.into_bytes(), want)
}

fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| p.feed(c)).collect();
    p.finish(|e| out.push(e.to_event()));
    out
}

#[test]
fn parser_agrees_across_random_chunkings() {
    let strategy = (events(), proptest::collection::vec(any::<usize>(), 0..12));
    runner(2000)
        .run(&strategy, |(evs, cuts)| {
            let (bytes, want) = render(&evs);
            let whole = parse(&[&bytes]);
            let got: Vec<_> = whole.iter().map(|e| (e.event.clone(), e.data.clone())).collect();
            prop_assert_eq!(&got, &want);
            let cut = parse(&chunks(&bytes, cuts));
            prop_assert_eq!(cut.len(), whole.len());
            for (c, w) in cut.iter().zip(&whole) {
                prop_assert_eq!((&c.event, &c.data, c.start), (&w.event, &w.data, w.start));
                // Equal ends, but for a CR closing a chunk before the LF of its CRLF.
                let lf_after_cr =
                    c.end + 1 == w.end && bytes[c.end as usize - 1] == b'\r' && bytes[c.end as usize] == b'\n';
                prop_assert!(c.end == w.end || lf_after_cr, "{:?} vs {:?}", c, w);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn tracker_agrees_across_random_chunkings() {
    let names = [
        "openai-chat-stream.sse",
        "openai-recorded-chat-streaming.response.sse",
        "openai-recorded-chat-streaming-detailed-usage.response.sse",
        "anthropic-stream_basic.sse",
        "anthropic-stream_tool.sse",
        "anthropic-stream_message_delta_usage.sse",
        "openai-responses-stream.sse",
    ];
    for name in names {
        let body = fixture(name);
        for strip in [false, true] {
            let tracker = || StreamTracker::new(format_of(name)).strip_forced_usage(strip);
            let whole = run(tracker(), [&body[..]], "Hello!");
            runner(200)
                .run(&proptest::collection::vec(any::<usize>(), 0..40), |cuts| {
                    let r = run(tracker(), chunks(&body, cuts), "Hello!");
                    prop_assert_eq!(&r, &whole);
                    Ok(())
                })
                .unwrap();
        }
    }
}
