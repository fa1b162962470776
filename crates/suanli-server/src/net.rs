//! Accepting connections with a bound: at most `connections_max` clients are served at
//! once; the next waits (in the kernel's listen backlog) until one leaves, so a flood of
//! connections cannot exhaust memory or file descriptors. A connection that sends
//! nothing (not even the HTTP/2 preface or a TLS ClientHello) within the handshake timeout
//! is closed, so idle sockets cannot hold every slot.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::future::Future;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes a client must send within the handshake timeout: the HTTP/2 connection preface
/// is 24 bytes, a TLS ClientHello is longer.
const FIRST_BYTES: usize = 24;

/// A connection that holds one of the server's connection permits while it lives.
pub struct LimitedConn {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    /// Until the client has sent its first [`FIRST_BYTES`]: when it must have.
    handshake: Option<Pin<Box<tokio::time::Sleep>>>,
    received: usize,
}

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for LimitedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.handshake.is_some() {
            if let Poll::Ready(Ok(())) = read {
                self.received += buf.filled().len() - before;
                if self.received >= FIRST_BYTES {
                    self.handshake = None;
                }
            } else if let Poll::Pending = read
                && let Some(deadline) = self.handshake.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing within the handshake timeout",
                )));
            }
        }
        read
    }
}

impl AsyncWrite for LimitedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The accepted connections of `listener`, at most `max` alive at once; each must send its
/// first bytes within `handshake`.
pub fn incoming(listener: TcpListener, max: usize, handshake: Duration) -> impl Stream<Item = io::Result<LimitedConn>> {
    let permits = Arc::new(Semaphore::new(max));
    futures::stream::unfold((listener, permits), move |(listener, permits)| async move {
        let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let item = match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                Ok(LimitedConn {
                    inner: stream,
                    _permit: permit,
                    handshake: Some(Box::pin(tokio::time::sleep(handshake))),
                    received: 0,
                })
            }
            Err(e) => Err(e),
        };
        Some((item, (listener, permits)))
    })
}
