//! What real providers (and the proxies in front of them) do to a response's bytes, on
//! request: compress it when the client asks, as providers do (`x-mock-compress:
//! when-asked`), or whether it asked or not (`x-mock-compress: gzip` / `deflate`); and break
//! a stream's SSE framing (`x-mock-sse-framing`), as some upstreams do.
//!
//! Applied to the response after it is made, frame by frame: a compressed stream is flushed
//! after every frame (each event leaves at once, decodable), like a provider's.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http_body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use hyper::{HeaderMap, Response};

use crate::body::MockBody;

/// How to change a response, from the request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reshape {
    compress: Option<Coding>,
    framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// A stream's event framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Framing {
    #[default]
    Standard,
    /// Events end with one line break, not a blank line: the stream is one endless event.
    NoBlankLines,
    /// Each event's blank line becomes an `id:` line: an endless event of data and id lines.
    IdLines,
}

impl Reshape {
    /// Reads `x-mock-compress` and `x-mock-sse-framing` (and `accept-encoding`); an unknown
    /// value is ignored here (the request is answered as it would be without it).
    pub fn from_headers(h: &HeaderMap) -> Self {
        let value = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        let compress = match value("x-mock-compress").as_deref() {
            Some("gzip") => Some(Coding::Gzip),
            Some("deflate") => Some(Coding::Deflate),
            Some("when-asked") => {
                let accepted = value("accept-encoding").unwrap_or_default();
                let accepts = |c: &str| {
                    accepted.split(',').any(|part| {
                        let mut it = part.split(';');
                        let name = it.next().unwrap_or_default().trim();
                        let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
                        name == c && !refused
                    })
                };
                if accepts("gzip") {
                    Some(Coding::Gzip)
                } else if accepts("deflate") {
                    Some(Coding::Deflate)
                } else {
                    None
                }
            }
            _ => None,
        };
        let framing = match value("x-mock-sse-framing").as_deref() {
            Some("no-blank-lines") => Framing::NoBlankLines,
            Some("id-lines") => Framing::IdLines,
            _ => Framing::Standard,
        };
        Reshape { compress, framing }
    }

    /// The response, reshaped: same status and headers, but for the encoding.
    pub fn apply(self, resp: Response<MockBody>) -> Response<ReshapedBody> {
        let sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let framing = if sse { self.framing } else { Framing::Standard };
        let (mut parts, body) = resp.into_parts();
        if let Some(coding) = self.compress {
            parts.headers.remove(CONTENT_LENGTH);
            parts
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
            parts.headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        let encoder = self.compress.map(|c| match c {
            Coding::Gzip => Encoder::Gzip(GzEncoder::new(Vec::new(), Compression::default())),
            Coding::Deflate => Encoder::Deflate(ZlibEncoder::new(Vec::new(), Compression::default())),
        });
        Response::from_parts(
            parts,
            ReshapedBody {
                inner: body,
                framing,
                encoder,
                events: 0,
                done: false,
            },
        )
    }
}

enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
}

impl Encoder {
    /// Compresses `data` and flushes (a sync flush: everything so far is decodable).
    fn chunk(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => {
                e.write_all(data)?;
                e.flush()?;
                std::mem::take(e.get_mut())
            }
            Encoder::Deflate(e) => {
                e.write_all(data)?;
                e.flush()?;
                std::mem::take(e.get_mut())
            }
        };
        Ok(Bytes::from(out))
    }

    /// The end of the compressed stream (the gzip trailer).
    fn finish(self) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Deflate(e) => e.finish()?,
        };
        Ok(Bytes::from(out))
    }
}

/// A response body as a provider (or a broken upstream) would send it.
pub struct ReshapedBody {
    inner: MockBody,
    framing: Framing,
    encoder: Option<Encoder>,
    events: u64,
    done: bool,
}

impl ReshapedBody {
    fn reframe(&mut self, data: Bytes) -> Bytes {
        match self.framing {
            Framing::Standard => data,
            Framing::NoBlankLines => Bytes::from(data.as_ref().to_vec().replace_blank_lines(|_| b"\n".to_vec())),
            Framing::IdLines => {
                let mut n = self.events;
                let out = data.as_ref().to_vec().replace_blank_lines(|_| {
                    n += 1;
                    format!("\nid: {n}\n").into_bytes()
                });
                self.events = n;
                Bytes::from(out)
            }
        }
    }
}

/// Replaces each `\n\n` (an event's end) with what `with` gives.
trait ReplaceBlankLines {
    fn replace_blank_lines(self, with: impl FnMut(usize) -> Vec<u8>) -> Vec<u8>;
}

impl ReplaceBlankLines for Vec<u8> {
    fn replace_blank_lines(self, mut with: impl FnMut(usize) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i] == b'\n' && self.get(i + 1) == Some(&b'\n') {
                out.extend(with(i));
                i += 2;
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}

impl Body for ReshapedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::new()))));
                };
                let data = self.reframe(data);
                match self.encoder.as_mut() {
                    None => Poll::Ready(Some(Ok(Frame::data(data)))),
                    Some(e) => Poll::Ready(Some(e.chunk(&data).map(Frame::data))),
                }
            }
            Poll::Ready(None) => {
                self.done = true;
                match self.encoder.take() {
                    None => Poll::Ready(None),
                    Some(e) => Poll::Ready(Some(e.finish().map(Frame::data))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.encoder.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.encoder.is_none() && self.framing == Framing::Standard {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use http_body_util::BodyExt;
    use std::io::Read;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn compresses_only_when_asked() {
        let r = |p: &[(&'static str, &'static str)]| Reshape::from_headers(&headers(p)).compress;
        assert_eq!(
            r(&[("x-mock-compress", "when-asked"), ("accept-encoding", "gzip, deflate")]),
            Some(Coding::Gzip)
        );
        assert_eq!(
            r(&[("x-mock-compress", "when-asked"), ("accept-encoding", "identity")]),
            None
        );
        assert_eq!(
            r(&[
                ("x-mock-compress", "when-asked"),
                ("accept-encoding", "gzip;q=0, deflate")
            ]),
            Some(Coding::Deflate)
        );
        assert_eq!(r(&[("x-mock-compress", "when-asked")]), None);
        assert_eq!(
            r(&[("x-mock-compress", "gzip"), ("accept-encoding", "identity")]),
            Some(Coding::Gzip)
        );
        assert_eq!(
            r(&[("accept-encoding", "gzip")]),
            None,
            "without the control, as before"
        );
    }

    #[tokio::test]
    async fn each_frame_is_decodable_at_once() {
        let source = MockBody::full(Bytes::from_static(b"data: {\"a\":1}\n\n"));
        let resp = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .body(source)
            .unwrap();
        let reshape = Reshape::from_headers(&headers(&[("x-mock-compress", "gzip")]));
        let (parts, mut body) = reshape.apply(resp).into_parts();
        assert_eq!(parts.headers[CONTENT_ENCODING], "gzip");
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        // Flushed: the first frame alone already decodes to the whole event.
        let mut got = Vec::new();
        let _ = GzDecoder::new(&first[..]).read_to_end(&mut got);
        assert_eq!(got, b"data: {\"a\":1}\n\n");
        let mut all = first.to_vec();
        while let Some(f) = body.frame().await {
            all.extend_from_slice(&f.unwrap().into_data().unwrap());
        }
        let mut whole = Vec::new();
        GzDecoder::new(&all[..]).read_to_end(&mut whole).unwrap();
        assert_eq!(whole, b"data: {\"a\":1}\n\n");
    }

    #[test]
    fn broken_framings() {
        let events = b"data: 1\n\ndata: 2\n\n".to_vec();
        assert_eq!(
            events.clone().replace_blank_lines(|_| b"\n".to_vec()),
            b"data: 1\ndata: 2\n"
        );
        let mut n = 0;
        let out = events.replace_blank_lines(|_| {
            n += 1;
            format!("\nid: {n}\n").into_bytes()
        });
        assert_eq!(out, b"data: 1\nid: 1\ndata: 2\nid: 2\n");
    }
}
