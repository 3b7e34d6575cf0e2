//! Per-chunk cost of following a stream, and of reading usage from a response body.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use genai_usage::{usage_from_json, ApiFormat, SseParser, StreamTracker};

/// A typical OpenAI chat chunk (one event), as recorded, with `include_usage` on.
const OPENAI_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-DFnKV81lMKGBRRh35sxZO8I88ireo","object":"chat.completion.chunk","created":1772656915,"model":"gpt-5-nano-2025-08-07","service_tier":"default","system_fingerprint":null,"choices":[{"index":0,"delta":{"content":" help"},"finish_reason":null}],"usage":null,"obfuscation":"Lu"}

"#;

const ANTHROPIC_CHUNK: &[u8] = br#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you doing today?"}}

"#;

const OPENAI_USAGE_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-DFnKV81lMKGBRRh35sxZO8I88ireo","object":"chat.completion.chunk","created":1772656915,"model":"gpt-5-nano-2025-08-07","service_tier":"default","system_fingerprint":null,"choices":[],"usage":{"prompt_tokens":18,"completion_tokens":286,"total_tokens":304,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"Od"}

"#;

/// An OpenAI chat completion of about 2 KB.
fn body_2k() -> Vec<u8> {
    let content = "The quarter closed with revenue up 12% year on year, driven by subscriptions. ".repeat(18);
    format!(
        r#"{{
  "id": "chatcmpl-C3kBOLGARFj2WJrm5MRyuTiK4u6eF",
  "object": "chat.completion",
  "created": 1755008546,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {{
      "index": 0,
      "message": {{ "role": "assistant", "content": "{content}", "refusal": null, "annotations": [] }},
      "logprobs": null,
      "finish_reason": "stop"
    }}
  ],
  "usage": {{
    "prompt_tokens": 1017,
    "completion_tokens": 323,
    "total_tokens": 1340,
    "prompt_tokens_details": {{ "cached_tokens": 512, "audio_tokens": 0 }},
    "completion_tokens_details": {{ "reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 }}
  }},
  "service_tier": "default",
  "system_fingerprint": "fp_1"
}}"#
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("feed");
    g.throughput(Throughput::Elements(1));

    g.bench_function("sse parser only, openai chunk", |b| {
        let mut p = SseParser::new();
        b.iter(|| {
            p.feed_with(black_box(OPENAI_CHUNK), |e| {
                black_box(e);
            })
        })
    });
    g.bench_function("openai chunk, peek", |b| {
        let mut t = StreamTracker::new(ApiFormat::OpenAiChat);
        b.iter(|| black_box(t.feed(black_box(OPENAI_CHUNK))))
    });
    g.bench_function("openai chunk, strip", |b| {
        let mut t = StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true);
        b.iter(|| black_box(t.feed(black_box(OPENAI_CHUNK))))
    });
    let (head, tail) = OPENAI_CHUNK.split_at(OPENAI_CHUNK.len() / 2);
    g.bench_function("openai chunk cut in two, strip (hold back + copy)", |b| {
        let mut t = StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true);
        b.iter(|| {
            black_box(t.feed(black_box(head)));
            black_box(t.feed(black_box(tail)))
        })
    });
    g.bench_function("openai usage-only chunk, strip", |b| {
        let mut t = StreamTracker::new(ApiFormat::OpenAiChat).strip_forced_usage(true);
        b.iter(|| black_box(t.feed(black_box(OPENAI_USAGE_CHUNK))))
    });
    g.bench_function("anthropic content_block_delta, peek", |b| {
        let mut t = StreamTracker::new(ApiFormat::AnthropicMessages);
        b.iter(|| black_box(t.feed(black_box(ANTHROPIC_CHUNK))))
    });
    g.finish();

    let body = body_2k();
    assert!((1900..2300).contains(&body.len()), "{}", body.len());
    assert!(usage_from_json(ApiFormat::OpenAiChat, &body).is_some());
    c.bench_function("usage_from_json, 2 KB openai body", |b| {
        b.iter(|| usage_from_json(ApiFormat::OpenAiChat, black_box(&body)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
