//! Connection budgets and deadlines for both listeners (contract §2 `[server]`,
//! §8): a client that opens connections and sends nothing, or sends its request
//! head slowly, is cut off; each listener has its own budget, so a flood on the
//! public one never locks the operator out of the admin one.
//!
//! - [`GuardedAcceptor`] holds a permit per open connection. Over the budget a
//!   new connection is accepted and closed at once (cheap: no task, no
//!   buffers). A failing `accept` (out of file descriptors) backs off instead
//!   of spinning a core.
//! - [`GuardedStream`] enforces the deadlines at the byte level: a request
//!   head must be complete (`\r\n\r\n`) within `header_timeout` of the
//!   connection's start or of its first byte; between requests, and while a
//!   body trickles in, a connection may be silent for `idle_timeout`. HTTP/2
//!   (prior knowledge) connections get the idle deadline only.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// File descriptors kept back for the database, log and key files.
const RESERVED_DESCRIPTORS: u64 = 128;
/// How long a failing `accept` waits before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Raises the process's soft file-descriptor limit to its hard limit and
/// returns the connections each of `listeners` may hold so that all of them
/// fit at once: `requested`, or less (with a warning) when the limit is lower.
pub fn budget_per_listener(requested: usize, listeners: u64) -> usize {
    let available = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit.saturating_sub(RESERVED_DESCRIPTORS) / listeners.max(1),
        Err(error) => {
            tracing::warn!(%error, "cannot read the file descriptor limit; connection budgets unchanged");
            return requested;
        }
    };
    let budget = requested.min(usize::try_from(available).unwrap_or(usize::MAX)).max(1);
    if budget < requested {
        tracing::warn!(
            requested,
            budget,
            "server.max_connections is more than the file descriptor limit allows; raise `ulimit -n` \
             (LimitNOFILE= under systemd) to use it"
        );
    }
    budget
}

/// An [`Acceptor`] that enforces [`ConnectionLimits`] on every connection.
pub struct GuardedAcceptor<A> {
    inner: A,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    listener: &'static str,
    refused: Arc<AtomicU64>,
    accept_failing: bool,
}

impl<A: Acceptor> GuardedAcceptor<A> {
    pub fn new(inner: A, limits: ConnectionLimits, listener: &'static str) -> Self {
        Self {
            inner,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            listener,
            refused: Arc::new(AtomicU64::new(0)),
            accept_failing: false,
        }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
    type Io = GuardedStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            match self.inner.accept().await {
                Ok((io, local, remote, scheme)) => {
                    self.accept_failing = false;
                    match self.permits.clone().try_acquire_owned() {
                        Ok(permit) => return Ok((GuardedStream::new(io, permit, self.limits), local, remote, scheme)),
                        Err(_) => {
                            // Closed at once: the client sees the connection end.
                            drop(io);
                            let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                            if refused.is_power_of_two() {
                                tracing::warn!(
                                    listener = self.listener,
                                    max_connections = self.limits.max_connections,
                                    refused,
                                    "connection budget exhausted: closing new connections"
                                );
                            }
                        }
                    }
                }
                Err(error) => {
                    if !self.accept_failing {
                        tracing::error!(listener = self.listener, %error, "cannot accept connections; retrying");
                        self.accept_failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: it must be complete by the deadline.
    Head,
    /// The head is in; the body may pause for the idle timeout at a time.
    Body,
    /// A response went out; the next request may come within the idle timeout.
    Idle,
    /// HTTP/2: frames, not heads; only the idle timeout applies.
    Frames,
}

/// A connection with the deadlines of its listener. The permit it holds
/// returns to the budget when the connection is dropped.
pub struct GuardedStream<Io> {
    inner: Io,
    _permit: OwnedSemaphorePermit,
    limits: ConnectionLimits,
    phase: Phase,
    fresh: bool,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    /// The last bytes of a head read so far, to find `\r\n\r\n` across reads.
    tail: [u8; 3],
    tail_len: usize,
}

impl<Io> GuardedStream<Io> {
    fn new(inner: Io, permit: OwnedSemaphorePermit, limits: ConnectionLimits) -> Self {
        let deadline = Instant::now() + limits.header_timeout;
        Self {
            inner,
            _permit: permit,
            limits,
            phase: Phase::Head,
            fresh: true,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            tail: [0; 3],
            tail_len: 0,
        }
    }

    fn on_read(&mut self, bytes: &[u8]) {
        if std::mem::take(&mut self.fresh) && bytes.starts_with(HTTP2_PREFACE) {
            self.phase = Phase::Frames;
        }
        match self.phase {
            Phase::Idle => {
                // The first byte of the next request starts its head's clock.
                self.phase = Phase::Head;
                self.tail_len = 0;
                self.deadline = Instant::now() + self.limits.header_timeout;
                self.scan_head(bytes);
            }
            Phase::Head => self.scan_head(bytes),
            Phase::Body | Phase::Frames => self.deadline = Instant::now() + self.limits.idle_timeout,
        }
    }

    fn scan_head(&mut self, bytes: &[u8]) {
        let mut window = [0u8; 6];
        let joined_len = self.tail_len + bytes.len().min(3);
        window[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        window[self.tail_len..joined_len].copy_from_slice(&bytes[..bytes.len().min(3)]);
        let ends = |haystack: &[u8]| haystack.windows(4).any(|four| four == b"\r\n\r\n");
        if ends(&window[..joined_len]) || ends(bytes) {
            self.phase = Phase::Body;
            self.deadline = Instant::now() + self.limits.idle_timeout;
            return;
        }
        // Keep the last three bytes seen.
        let seen: Vec<u8> = self.tail[..self.tail_len].iter().chain(bytes).copied().collect();
        let keep = seen.len().min(3);
        self.tail[..keep].copy_from_slice(&seen[seen.len() - keep..]);
        self.tail_len = keep;
    }

    fn on_write(&mut self) {
        if self.phase != Phase::Frames {
            self.phase = Phase::Idle;
        }
        self.deadline = Instant::now() + self.limits.idle_timeout;
    }

    /// Whether the deadline has passed; arms the timer so the task wakes then.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.timer.deadline() != self.deadline {
            self.timer.as_mut().reset(self.deadline);
        }
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for GuardedStream<Io> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    this.on_read(read);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => {
                let what = if this.phase == Phase::Head { "request head not received" } else { "connection idle" };
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
            }
            other => other,
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for GuardedStream<Io> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.on_write();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.on_write();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> GuardedStream<()> {
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        };
        GuardedStream::new((), permit, limits)
    }

    #[tokio::test]
    async fn a_head_split_anywhere_is_found_and_a_response_starts_the_idle_clock() {
        let head = b"POST /v1/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        for split in 1..head.len() {
            let mut stream = stream();
            stream.on_read(&head[..split]);
            stream.on_read(&head[split..]);
            assert_eq!(stream.phase, Phase::Body, "split at {split}");
        }
        let mut byte_by_byte = stream();
        for byte in head.iter() {
            byte_by_byte.on_read(std::slice::from_ref(byte));
        }
        assert_eq!(byte_by_byte.phase, Phase::Body);
        byte_by_byte.on_write();
        assert_eq!(byte_by_byte.phase, Phase::Idle);
        byte_by_byte.on_read(b"GET /health HTTP/1.1\r\n");
        assert_eq!(byte_by_byte.phase, Phase::Head, "the next request's head has its own deadline");
    }

    #[tokio::test]
    async fn an_unfinished_head_stays_a_head_and_http2_is_frames() {
        let mut slow = stream();
        for chunk in [&b"GET / HTTP/1.1\r\n"[..], b"X-a: 1\r\n", b"X-b: 2\r", b"\n"] {
            slow.on_read(chunk);
        }
        assert_eq!(slow.phase, Phase::Head);
        let mut h2 = stream();
        h2.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        h2.on_write();
        h2.on_read(b"\x00\x00\x04\x08");
        assert_eq!(h2.phase, Phase::Frames);
    }
}
