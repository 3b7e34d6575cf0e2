#![no_main]
// The checks live in src/lib.rs (see there); this file only hands libFuzzer's input over.
libfuzzer_sys::fuzz_target!(|data: &[u8]| genai_fuzz::sse_stream(data));
