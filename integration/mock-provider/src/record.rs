//! Ring buffer of received requests, served by `GET /__mock/requests`.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Serialize;
use serde_json::{Map, Value};

struct Entry {
    seq: u64,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

struct Ring {
    next_seq: u64,
    entries: VecDeque<Entry>,
}

pub struct Recorder {
    enabled: bool,
    limit: usize,
    ring: Mutex<Ring>,
}

impl Recorder {
    pub fn new(enabled: bool, limit: usize) -> Self {
        Self {
            enabled: enabled && limit > 0,
            limit,
            ring: Mutex::new(Ring {
                next_seq: 1,
                entries: VecDeque::with_capacity(limit.min(4096)),
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent enough to keep serving.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps one request (no-op when recording is off). Cloning the map and `Bytes` is cheap.
    pub fn record(&self, method: &Method, path: &str, headers: &HeaderMap, body: &Bytes) {
        if !self.enabled {
            return;
        }
        let entry = Entry {
            seq: 0,
            method: method.clone(),
            path: path.to_owned(),
            headers: headers.clone(),
            body: body.clone(),
        };
        let mut ring = self.ring();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() >= self.limit {
            ring.entries.pop_front();
        }
        ring.entries.push_back(Entry { seq, ..entry });
    }

    pub fn clear(&self) {
        self.ring().entries.clear();
    }

    /// The recorded requests, oldest first, as a JSON array.
    pub fn to_json(&self) -> Vec<u8> {
        let ring = self.ring();
        let list: Vec<EntryJson<'_>> = ring.entries.iter().map(entry_json).collect();
        crate::text::to_json(&list)
    }
}

/// One element of `GET /__mock/requests`.
#[derive(Serialize)]
struct EntryJson<'a> {
    seq: u64,
    method: &'a str,
    path: &'a str,
    /// Lower-case header name (sorted) to its values in arrival order.
    headers: Map<String, Value>,
    body: std::borrow::Cow<'a, str>,
    body_base64: String,
}

fn entry_json(e: &Entry) -> EntryJson<'_> {
    let mut headers = Map::new();
    for (name, value) in &e.headers {
        let v = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(values) => values.push(v),
            other => *other = Value::Array(vec![v]),
        }
    }
    EntryJson {
        seq: e.seq,
        method: e.method.as_str(),
        path: &e.path,
        headers,
        body: String::from_utf8_lossy(&e.body),
        body_base64: base64::engine::general_purpose::STANDARD.encode(&e.body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use serde_json::json;

    fn list(r: &Recorder) -> Vec<Value> {
        serde_json::from_slice::<Vec<Value>>(&r.to_json()).unwrap()
    }

    #[test]
    fn keeps_the_last_n_oldest_first() {
        let r = Recorder::new(true, 2);
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        for i in 0..3 {
            let body = Bytes::from(vec![b'a' + i, 0xff]);
            r.record(&Method::POST, &format!("/p{i}?q=1"), &h, &body);
        }
        let l = list(&r);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["seq"], 2);
        assert_eq!(l[1]["seq"], 3);
        assert_eq!(l[0]["method"], "POST");
        assert_eq!(l[0]["path"], "/p1?q=1");
        assert_eq!(l[0]["headers"]["x-a"], json!(["1", "2"]));
        assert_eq!(l[0]["body"], "b\u{fffd}");
        assert_eq!(l[0]["body_base64"], "Yv8=");
        r.clear();
        assert!(list(&r).is_empty());
    }

    #[test]
    fn disabled_records_nothing() {
        let r = Recorder::new(false, 10);
        r.record(&Method::GET, "/", &HeaderMap::new(), &Bytes::new());
        assert!(list(&r).is_empty());
    }
}
