//! Which messages go compressed, and how a connection's halves use the codec: RSV1 on the first
//! frame of a compressed message only (RFC 7692 §6), small or incompressible messages sent as they
//! are, and the state each half keeps between messages.

use super::codec::{Compressor, Decompressor};
use super::{Deflate, DeflateParams};
use crate::buffer::KEEP_CAPACITY;
use crate::error::Error;
use crate::Role;

/// The sending half's compression.
#[derive(Debug)]
pub(crate) struct Deflater {
    /// `None` when the negotiated window is one zlib cannot keep to: then nothing is compressed.
    compressor: Option<Compressor>,
    threshold: usize,
    /// Compressed bytes of the message being sent, reused from message to message.
    scratch: Vec<u8>,
    /// The fragmented message being sent is compressed.
    compressing: bool,
}

impl Deflater {
    pub(crate) fn new(role: Role, params: &DeflateParams, settings: &Deflate) -> Deflater {
        let (window_bits, no_context_takeover) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
        };
        Deflater {
            compressor: Compressor::new(window_bits, settings.level, no_context_takeover),
            threshold: settings.threshold,
            scratch: Vec::new(),
            compressing: false,
        }
    }

    /// A whole message's payload to send with RSV1, or `None` to send it as it is: below the
    /// threshold, not smaller compressed, or no compression possible.
    pub(crate) fn message(&mut self, payload: &[u8]) -> Option<&[u8]> {
        let compressor = self.compressor.as_mut()?;
        if payload.len() < self.threshold {
            return None;
        }
        self.scratch.clear();
        match compressor.compress(payload, true, &mut self.scratch) {
            Ok(()) if self.scratch.len() < payload.len() => Some(&self.scratch),
            // Sent as it is: the peer's window will not hold what ours now does.
            _ => {
                compressor.reset();
                None
            }
        }
    }

    /// The window size and level to compress a prepared message of `len` bytes with, or `None` to
    /// send it as it is (below the threshold, or no compression possible), as [`Deflater::message`]
    /// decides for a message of our own.
    pub(crate) fn prepared_params(&self, len: usize) -> Option<(u8, u8)> {
        let compressor = self.compressor.as_ref()?;
        (len >= self.threshold).then(|| compressor.params())
    }

    /// A message compressed elsewhere went out: the peer's window holds data our compressor has not
    /// seen, so it must not refer back past it.
    pub(crate) fn forget_context(&mut self) {
        if let Some(compressor) = &mut self.compressor {
            compressor.reset();
        }
    }

    /// One fragment's payload and whether its frame has RSV1. A fragmented message is compressed as
    /// a whole when compression is possible: its size is not known in advance.
    pub(crate) fn fragment<'a>(
        &'a mut self,
        payload: &'a [u8],
        first: bool,
        fin: bool,
    ) -> Result<(&'a [u8], bool), Error> {
        if first {
            self.compressing = self.compressor.is_some();
        }
        let Some(compressor) = self.compressor.as_mut().filter(|_| self.compressing) else {
            return Ok((payload, false));
        };
        self.scratch.clear();
        compressor.compress(payload, fin, &mut self.scratch)?;
        Ok((&self.scratch, first))
    }

    /// After a message: a scratch buffer grown by one large message is not kept.
    pub(crate) fn trim(&mut self) {
        if self.scratch.capacity() > KEEP_CAPACITY
            && self.scratch.capacity() > 4 * self.scratch.len()
        {
            self.scratch = Vec::new();
        }
    }

    /// Gives back the zlib state and the scratch buffer while idle, unless a fragmented message is
    /// still open.
    pub(crate) fn release_idle(&mut self) {
        if !self.compressing {
            self.scratch = Vec::new();
            if let Some(compressor) = &mut self.compressor {
                compressor.release();
            }
        }
    }

    /// The fragmented message being sent ended.
    pub(crate) fn message_done(&mut self) {
        self.compressing = false;
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.scratch.capacity() + self.compressor.as_ref().map_or(0, Compressor::heap_size)
    }
}

/// `payload` compressed as a whole message by a fresh compressor (RFC 7692 §7.2.1), for any connection
/// whose peer accepts this window; `None` when that would not make it smaller.
pub(crate) fn compress_alone(payload: &[u8], window_bits: u8, level: u8) -> Option<Vec<u8>> {
    let mut compressor = Compressor::new(window_bits, level, true)?;
    let mut out = Vec::new();
    compressor.compress(payload, true, &mut out).ok()?;
    (out.len() < payload.len()).then_some(out)
}

/// The receiving half's decompression.
#[derive(Debug)]
pub(crate) struct Inflater {
    decompressor: Decompressor,
}

impl Inflater {
    pub(crate) fn new(role: Role, params: &DeflateParams) -> Inflater {
        let peer_no_context_takeover = match role {
            Role::Server => params.client_no_context_takeover,
            Role::Client => params.server_no_context_takeover,
        };
        Inflater {
            decompressor: Decompressor::new(peer_no_context_takeover),
        }
    }

    /// Inflates one frame's payload of a compressed message onto `message`, within `max` bytes.
    pub(crate) fn inflate(
        &mut self,
        payload: &[u8],
        fin: bool,
        message: &mut Vec<u8>,
        max: usize,
        check: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.decompressor.inflate(payload, fin, message, max, check)
    }

    /// Gives back the zlib state while idle, when the peer's next message cannot refer to older data.
    pub(crate) fn release_idle(&mut self) {
        self.decompressor.release();
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.decompressor.heap_size()
    }
}
