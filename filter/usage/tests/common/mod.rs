//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::panic, clippy::indexing_slicing)]

use genai_usage::{ApiFormat, Feed, Finish, Forward, StreamTracker, Usage};
use std::path::PathBuf;

/// The provider transcripts, in `shared/` beside the repository clone. Fails (never skips)
/// when they are missing.
pub fn fixtures_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/provider-transcripts");
    assert!(
        dir.join("expected-usage.json").is_file(),
        "provider transcripts not found at {}: the tests need the shared/ folder beside the repository clone",
        dir.display()
    );
    dir
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn format_of(name: &str) -> ApiFormat {
    if name.starts_with("openai-responses-") {
        ApiFormat::OpenAiResponses
    } else if name.starts_with("openai-chat-") || name.starts_with("openai-recorded-") {
        ApiFormat::OpenAiChat
    } else if name.starts_with("anthropic-") {
        ApiFormat::AnthropicMessages
    } else {
        panic!("no format for fixture {name}")
    }
}

/// What a tracker saw of one stream, fed in the given chunks.
#[derive(Debug, PartialEq)]
pub struct Run {
    pub forwarded: Vec<u8>,
    pub first_content_feeds: usize,
    pub first_content_seen: bool,
    pub usage: Option<Usage>,
    pub text: String,
    pub finish: Finish,
}

pub fn run<'a>(mut tracker: StreamTracker, chunks: impl IntoIterator<Item = &'a [u8]>, prompt: &str) -> Run {
    let mut forwarded = Vec::new();
    let mut first_content_feeds = 0;
    for chunk in chunks {
        let Feed { first_content, forward } = tracker.feed(chunk);
        first_content_feeds += usize::from(first_content);
        match forward {
            Forward::Unchanged => forwarded.extend_from_slice(chunk),
            Forward::Replace(bytes) => forwarded.extend_from_slice(&bytes),
        }
    }
    let finish = tracker.finish(prompt);
    forwarded.extend_from_slice(&finish.tail);
    Run {
        forwarded,
        first_content_feeds,
        first_content_seen: tracker.first_content_seen(),
        usage: tracker.usage(),
        text: tracker.output_text().into_owned(),
        finish,
    }
}

/// The input split at `at` into two chunks.
pub fn split(bytes: &[u8], at: usize) -> [&[u8]; 2] {
    let (a, b) = bytes.split_at(at);
    [a, b]
}

/// Calls `f` for every offset in `0..=len`, spread over the machine's cores (the split tests
/// are the slow ones in a debug build).
pub fn for_each_offset(len: usize, f: impl Fn(usize) + Sync) {
    // wasm32-wasip1 (scripts/test-wasm, in V8) has no threads: one after the other.
    if cfg!(target_family = "wasm") {
        (0..=len).for_each(f);
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || (t..=len).step_by(threads).for_each(f));
        }
    });
}
