//! What the blocking driver needs of a stream beyond `Read + Write`: timeouts, so that it sleeps no longer
//! than the connection's next deadline, and a half-close, so that a close frame is not lost to a reset.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A stream the blocking driver can run a connection over. Implemented for `TcpStream` and (on Unix)
/// `UnixStream`; for a stream layered on one of them, such as TLS over TCP, forward to the socket
/// beneath:
///
/// ```
/// use std::io::{self, Read, Write};
/// use std::net::TcpStream;
/// use std::time::Duration;
/// use wscore::driver::blocking::Transport;
///
/// /// A stream that wraps a socket, e.g. a TLS session over it.
/// struct Wrapped { socket: TcpStream }
/// # impl Read for Wrapped { fn read(&mut self, b: &mut [u8]) -> io::Result<usize> { self.socket.read(b) } }
/// # impl Write for Wrapped {
/// #     fn write(&mut self, b: &[u8]) -> io::Result<usize> { self.socket.write(b) }
/// #     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// # }
///
/// impl Transport for Wrapped {
///     fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
///         self.socket.set_read_timeout(timeout)
///     }
///     fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
///         self.socket.set_write_timeout(timeout)
///     }
///     fn shutdown_write(&mut self) -> io::Result<()> {
///         self.socket.shutdown(std::net::Shutdown::Write)
///     }
/// }
/// ```
///
/// A stream that cannot time out may implement the two timeout methods as `Ok(())`: the connection
/// still works, but a silent peer then holds a blocked read until the stream itself gives up.
pub trait Transport: Read + Write {
    /// How long the next reads may block; `None`: without limit. A read that runs out returns
    /// `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// How long the next writes may block; `None`: without limit.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Ends our direction of the stream (TCP: a FIN) while the peer's direction stays open for reading.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

/// A stream that can be duplicated, so that one thread reads while another writes
/// ([`super::WebSocket::split`]). Both copies must reach the same connection.
pub trait TryClone: Sized {
    /// Another handle to the same stream.
    fn try_clone(&self) -> io::Result<Self>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<TcpStream> {
        TcpStream::try_clone(self)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl TryClone for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
}

/// What [`connect`](super::connect) opens: a TCP connection for `ws://`, TLS over one for `wss://`
/// (feature `tls`). More variants may come, so a `match` needs a wildcard arm.
///
/// ```no_run
/// use wscore::driver::blocking::{connect, MaybeTls};
/// let ws = connect("ws://127.0.0.1:9001/")?;
/// println!("from {}", ws.get_ref().socket().local_addr()?);
/// assert!(matches!(ws.get_ref(), MaybeTls::Plain(_)));
/// # Ok::<(), wscore::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTls {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "tls")]
    Tls(crate::driver::tls::TlsStream<TcpStream>),
}

impl MaybeTls {
    /// The TCP socket beneath, for its addresses and options.
    pub fn socket(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(socket) => socket,
            #[cfg(feature = "tls")]
            MaybeTls::Tls(tls) => tls.get_ref(),
        }
    }
}

/// Forwards a call to the stream inside, whichever it is.
macro_rules! each {
    ($self:expr, $stream:ident => $call:expr) => {
        match $self {
            MaybeTls::Plain($stream) => $call,
            #[cfg(feature = "tls")]
            MaybeTls::Tls($stream) => $call,
        }
    };
}

impl Read for MaybeTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.read(buf))
    }
}

impl Write for MaybeTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        each!(self, s => s.flush())
    }
}

impl Transport for MaybeTls {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => Transport::set_read_timeout(s, timeout))
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => Transport::set_write_timeout(s, timeout))
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        each!(self, s => s.shutdown_write())
    }
}

impl TryClone for MaybeTls {
    fn try_clone(&self) -> io::Result<MaybeTls> {
        match self {
            MaybeTls::Plain(socket) => socket.try_clone().map(MaybeTls::Plain),
            #[cfg(feature = "tls")]
            MaybeTls::Tls(tls) => tls.try_clone().map(MaybeTls::Tls),
        }
    }
}
