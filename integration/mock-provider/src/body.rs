//! Response bodies: a whole buffer, a paced server-sent-event stream, or a fixed buffer sent in
//! separately flushed pieces (fixture replay).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Produces the events of one streamed response. Each event is a complete SSE record.
pub trait SseSource: Send + 'static {
    /// Events before the first token (e.g. `message_start`).
    fn head(&mut self) -> Vec<Bytes>;
    /// The event carrying token `i`.
    fn token(&mut self, i: usize) -> Bytes;
    /// Events after the last token (finish, usage, `[DONE]`).
    fn tail(&mut self) -> Vec<Bytes>;
    /// The provider's error event, sent instead of the rest of the stream (`x-mock-error-after`).
    fn error(&mut self) -> Bytes;
}

/// How a stream is paced and whether it is cut short.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub tokens: usize,
    pub token_delay: Duration,
    pub abort_after: Option<usize>,
    /// After this many tokens, the provider's error event ends the stream (cleanly: no reset).
    pub error_after: Option<usize>,
}

/// Grace period that lets the connection flush what was sent before it is aborted.
const ABORT_FLUSH: Duration = Duration::from_millis(10);

pub struct SseBody {
    source: Box<dyn SseSource>,
    pacing: Pacing,
    queue: VecDeque<Bytes>,
    next_token: usize,
    tail_queued: bool,
    delay_done: bool,
    abort_armed: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    sleeping: bool,
}

impl SseBody {
    pub fn new(mut source: Box<dyn SseSource>, pacing: Pacing) -> Self {
        let queue = source.head().into();
        Self {
            source,
            pacing,
            queue,
            next_token: 0,
            tail_queued: false,
            delay_done: false,
            abort_armed: false,
            sleep: None,
            sleeping: false,
        }
    }

    fn start_sleep(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        match &mut self.sleep {
            Some(s) => s.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.sleeping = true;
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.sleeping {
                if let Some(s) = &mut this.sleep {
                    ready!(s.as_mut().poll(cx));
                }
                this.sleeping = false;
            }
            if let Some(b) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.tail_queued {
                return Poll::Ready(None);
            }
            if this.pacing.error_after.is_some_and(|k| this.next_token >= k) {
                this.queue.push_back(this.source.error());
                this.tail_queued = true;
                continue;
            }
            if this.pacing.abort_after.is_some_and(|k| this.next_token >= k) {
                if this.abort_armed {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "x-mock-abort-after",
                    ))));
                }
                this.abort_armed = true;
                this.start_sleep(ABORT_FLUSH);
                continue;
            }
            if this.next_token < this.pacing.tokens {
                let delay = this.pacing.token_delay;
                if this.next_token > 0 && !delay.is_zero() && !this.delay_done {
                    this.delay_done = true;
                    this.start_sleep(delay);
                    continue;
                }
                this.delay_done = false;
                let b = this.source.token(this.next_token);
                this.next_token += 1;
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            this.queue = this.source.tail().into();
            this.tail_queued = true;
        }
    }
}

/// A fixed buffer sent as writes of at most `chunk` bytes, each flushed on its own: between two
/// writes the body waits `delay`, or (no delay) yields once so the connection flushes the
/// previous write instead of coalescing it with the next.
pub struct SplitBody {
    rest: Bytes,
    chunk: usize,
    delay: Duration,
    /// Announce the exact length (the transport sends `content-length` instead of chunking).
    exact: bool,
    /// A write went out; pause before the next one.
    gap: bool,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SplitBody {
    /// `chunk: None` sends everything in one write; `Some(0)` is treated as 1.
    pub fn new(data: Bytes, chunk: Option<usize>, delay: Duration, exact: bool) -> Self {
        let chunk = chunk.map_or(data.len(), |c| c.max(1)).max(1);
        Self {
            rest: data,
            chunk,
            delay,
            exact,
            gap: false,
            sleep: None,
        }
    }
}

impl Body for SplitBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        if this.gap {
            if this.delay.is_zero() {
                this.gap = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let delay = this.delay;
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
            this.gap = false;
        }
        let n = this.chunk.min(this.rest.len());
        let piece = this.rest.split_to(n);
        this.gap = !this.rest.is_empty();
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.rest.len() as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// The body of every response.
pub enum MockBody {
    Full(Option<Bytes>),
    Sse(Box<SseBody>),
    Split(Box<SplitBody>),
}

impl MockBody {
    pub fn full(b: impl Into<Bytes>) -> Self {
        Self::Full(Some(b.into()))
    }

    pub fn sse(source: Box<dyn SseSource>, pacing: Pacing) -> Self {
        Self::Sse(Box::new(SseBody::new(source, pacing)))
    }

    pub fn split(body: SplitBody) -> Self {
        Self::Split(Box::new(body))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Sse(s) => Pin::new(s.as_mut()).poll_frame(cx),
            Self::Split(s) => Pin::new(s.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Sse(_) => false,
            Self::Split(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Sse(_) => SizeHint::default(),
            Self::Split(s) => s.size_hint(),
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Drains a stream body: the events before the end or abort, and whether it aborted.
    pub async fn drain(mut body: MockBody) -> (Vec<String>, bool) {
        let mut events = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    let data = f.into_data().unwrap();
                    events.push(String::from_utf8(data.to_vec()).unwrap());
                }
                Err(_) => return (events, true),
            }
        }
        (events, false)
    }

    struct Numbers;
    impl SseSource for Numbers {
        fn head(&mut self) -> Vec<Bytes> {
            vec![Bytes::from("h")]
        }
        fn token(&mut self, i: usize) -> Bytes {
            Bytes::from(i.to_string())
        }
        fn tail(&mut self) -> Vec<Bytes> {
            vec![Bytes::from("t1"), Bytes::from("t2")]
        }
        fn error(&mut self) -> Bytes {
            Bytes::from("e")
        }
    }

    fn pacing(tokens: usize, abort_after: Option<usize>) -> Pacing {
        Pacing {
            tokens,
            token_delay: Duration::ZERO,
            abort_after,
            error_after: None,
        }
    }

    #[tokio::test]
    async fn head_tokens_tail() {
        let (ev, aborted) = drain(MockBody::sse(Box::new(Numbers), pacing(3, None))).await;
        assert_eq!(ev, ["h", "0", "1", "2", "t1", "t2"]);
        assert!(!aborted);
    }

    #[tokio::test]
    async fn abort_after_k_tokens() {
        let (ev, aborted) = drain(MockBody::sse(Box::new(Numbers), pacing(3, Some(2)))).await;
        assert_eq!(ev, ["h", "0", "1"]);
        assert!(aborted);
        let (ev, aborted) = drain(MockBody::sse(Box::new(Numbers), pacing(3, Some(3)))).await;
        assert_eq!(ev, ["h", "0", "1", "2"]);
        assert!(aborted);
        let (ev, aborted) = drain(MockBody::sse(Box::new(Numbers), pacing(3, Some(0)))).await;
        assert_eq!(ev, ["h"]);
        assert!(aborted);
    }

    #[tokio::test]
    async fn error_event_after_k_tokens() {
        let p = Pacing {
            error_after: Some(2),
            ..pacing(3, None)
        };
        let (ev, aborted) = drain(MockBody::sse(Box::new(Numbers), p)).await;
        assert_eq!(ev, ["h", "0", "1", "e"]);
        assert!(!aborted, "the error event ends the stream cleanly");
        let p = Pacing {
            error_after: Some(0),
            ..pacing(3, None)
        };
        assert_eq!(drain(MockBody::sse(Box::new(Numbers), p)).await.0, ["h", "e"]);
    }

    #[tokio::test(start_paused = true)]
    async fn delays_between_tokens() {
        let p = Pacing {
            tokens: 4,
            token_delay: Duration::from_millis(100),
            ..Pacing::default()
        };
        let start = Instant::now();
        let (ev, _) = drain(MockBody::sse(Box::new(Numbers), p)).await;
        assert_eq!(ev.len(), 7);
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn split_body_pieces_and_delays() {
        let data = Bytes::from_static(b"0123456789abcdefghij");
        let start = Instant::now();
        let mut body = MockBody::split(SplitBody::new(data.clone(), Some(7), Duration::from_millis(50), true));
        assert_eq!(body.size_hint().exact(), Some(20));
        let (pieces, aborted) = drain(body).await;
        assert!(!aborted);
        assert_eq!(pieces, ["0123456", "789abcd", "efghij"]);
        assert_eq!(start.elapsed(), Duration::from_millis(100));

        body = MockBody::split(SplitBody::new(data.clone(), None, Duration::ZERO, false));
        assert_eq!(body.size_hint().exact(), None);
        assert!(!body.is_end_stream());
        let (pieces, _) = drain(body).await;
        assert_eq!(pieces, ["0123456789abcdefghij"]);

        let (pieces, _) = drain(MockBody::split(SplitBody::new(data, Some(1), Duration::ZERO, false))).await;
        assert_eq!(pieces.len(), 20);
        assert_eq!(pieces.concat(), "0123456789abcdefghij");

        let empty = MockBody::split(SplitBody::new(Bytes::new(), Some(3), Duration::ZERO, true));
        assert!(empty.is_end_stream());
        assert_eq!(drain(empty).await.0.len(), 0);
    }
}
