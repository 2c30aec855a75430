// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! SES building blocks: operations, completions, the environment trait
//! through which the engine reaches memory and the network, tag matching
//! and segmentation arithmetic.
//!
//! The SES state machines (message table, receive matching, unexpected
//! queue, reassembly) live in `engine.rs`.

use super::wire::ses::SesAddr;

/// FEP address (IPv6, or IPv4-mapped IPv6).
pub(crate) type Addr = [u8; 16];

/// PDS delivery mode of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Reliable unordered.
    Rud,
    /// Reliable ordered.
    Rod,
    /// Reliable unordered idempotent (no PDC; single-packet WRITE/READ).
    Rudi,
    /// Unreliable unordered (single-packet SEND).
    Uud,
}

/// An atomic operation on a native-endian `u64` in target memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtomicOp {
    /// `*t = old + operand` (wrapping); returns `old`.
    FetchAdd,
    /// `if old == compare { *t = operand }`; returns `old`.
    CmpSwap,
    /// `*t = old + operand` (wrapping); nothing is returned to the
    /// initiator.
    Add,
}

impl AtomicOp {
    /// True when the initiator gets the previous value back.
    pub(crate) fn fetches(self) -> bool {
        !matches!(self, Self::Add)
    }

    /// Applies the operation to `old` (what the target holds): the new
    /// value. For environments; the engine never touches target memory.
    pub(crate) fn apply(self, old: u64, operand: u64, compare: u64) -> u64 {
        match self {
            Self::FetchAdd | Self::Add => old.wrapping_add(operand),
            Self::CmpSwap if old == compare => operand,
            Self::CmpSwap => old,
        }
    }
}

/// An operation posted by the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Send, tagged when `tag` is `Some`.
    Send {
        /// Match bits.
        tag: Option<u64>,
    },
    /// RMA write to `key` at `offset`.
    Write {
        /// Memory key.
        key: u64,
        /// Offset in the target buffer.
        offset: u64,
    },
    /// RMA read from `key` at `offset`.
    Read {
        /// Memory key.
        key: u64,
        /// Offset in the target buffer.
        offset: u64,
    },
    /// Atomic operation on the `u64` at `offset` of the memory `key`
    /// names: RUD and ROD only, `Post::len` 8, no header data (else
    /// [`PostError::Invalid`](super::engine::PostError::Invalid)). Applied
    /// exactly once at the target whatever the network does. A fetching
    /// one ([`AtomicOp::fetches`]) writes the previous value (8 bytes,
    /// native endian) at offset 0 of `Post::buf` before its completion;
    /// the operands travel in the request, never in `Post::buf`.
    Atomic {
        /// Memory key.
        key: u64,
        /// Offset of the `u64` in the target buffer (a multiple of 8, or
        /// the target answers `AMO_UNALIGNED`).
        offset: u64,
        /// The operation.
        op: AtomicOp,
        /// Added (`FetchAdd`, `Add`) or swapped in (`CmpSwap`).
        operand: u64,
        /// `CmpSwap`: the value the target must hold for the swap (else
        /// ignored).
        compare: u64,
    },
}

/// A work request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Post {
    /// Caller's cookie, returned in the completion.
    pub(crate) user: u64,
    /// Target FEP.
    pub(crate) dst: Addr,
    /// Target `{JobID, PIDonFEP, resource index}`.
    pub(crate) target: SesAddr,
    /// Delivery mode.
    pub(crate) mode: Mode,
    /// Operation.
    pub(crate) op: Op,
    /// Local buffer handle: source of a send or write (a rendezvous send's
    /// is read until the send completes), sink of a read, sink of a
    /// fetching atomic's previous value (8 bytes at offset 0).
    pub(crate) buf: u64,
    /// Length in bytes (8 for an atomic).
    pub(crate) len: u32,
    /// Header data delivered with the receive completion (SEND) or the
    /// target's [`CompKind::WriteData`] completion (WRITE), when
    /// `with_data`.
    pub(crate) hdr_data: u64,
    /// The request carries `hdr_data` (SES HD flag set); without it the
    /// header data field goes out as 0, the receive reports none and a
    /// WRITE completes nothing at the target.
    /// Not allowed in RUDI (its medium requests carry no header data):
    /// [`PostError::Invalid`](super::engine::PostError::Invalid).
    pub(crate) with_data: bool,
    /// Traffic class (DSCP-derived); PDCs are per traffic class.
    pub(crate) tc: u8,
    /// The initiating endpoint's id, carried in the SES `initiator` field
    /// of every request of the operation (the kernel passes the sending
    /// queue pair's number: PIDonFEP in bits 11:0, resource index in bits
    /// 23:12). The target reports it in its receive completion.
    pub(crate) initiator: u32,
}

/// Kind of a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompKind {
    /// A posted send finished.
    Send,
    /// A posted write finished.
    Write,
    /// A posted read finished (data is in the local buffer).
    Read,
    /// A posted receive was filled.
    Recv,
    /// A posted atomic finished (a fetching one's previous value is in
    /// its buffer).
    Atomic,
    /// Target side: an RMA WRITE that carried header data (SES HD flag)
    /// landed whole and without error (libfabric `FI_REMOTE_CQ_DATA`).
    /// No receive is consumed; `user` is 0, `ep` the endpoint written,
    /// `len` the write's length, `hdr_data` its header data (`with_data`
    /// true), `src`, `initiator` and `job` name the writer as for a
    /// receive. Exactly once per write on RUD and ROD (RUDI refuses
    /// header data).
    WriteData,
}

/// Status of a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Success.
    Ok,
    /// The target answered with this SES return code.
    Remote(u8),
    /// The PDC failed (retry limit, target lost its state): no answer.
    PdcError,
    /// The local receive buffer was too small; data was truncated.
    Truncated,
    /// Cancelled by [`Engine::cancel`](super::engine::Engine::cancel)
    /// before it finished (length 0).
    Cancelled,
}

/// A completion reported through [`Env::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// Caller's cookie.
    pub(crate) user: u64,
    /// What finished.
    pub(crate) kind: CompKind,
    /// How it finished.
    pub(crate) status: Status,
    /// Bytes transferred.
    pub(crate) len: u32,
    /// Receive: match bits of the message (0 if untagged).
    pub(crate) tag: u64,
    /// Receive and [`CompKind::WriteData`]: header data of the message
    /// (0 when it carried none, see `with_data`).
    pub(crate) hdr_data: u64,
    /// Receive and [`CompKind::WriteData`]: the message carried header
    /// data (SES HD flag of its first packet), so that `hdr_data` 0 is
    /// header data 0, not "none". Always true for `WriteData`, false for
    /// initiator kinds.
    pub(crate) with_data: bool,
    /// Receive: endpoint that received; `WriteData`: endpoint written.
    pub(crate) ep: u32,
    /// Receive and `WriteData`: the FEP address the message came from
    /// (`[0; 16]` for other kinds).
    pub(crate) src: Addr,
    /// Receive and `WriteData`: the SES `initiator` field of the message
    /// (the sender's `Post::initiator`; 0 for other kinds and for small
    /// requests, which carry none).
    pub(crate) initiator: u32,
    /// Receive and `WriteData`: the JobID the message carried (0 for
    /// other kinds).
    pub(crate) job: u32,
}

/// What the engine needs from its environment (kernel: skb, pinned pages,
/// job table; host: vectors). Every method is called with the engine's
/// own state consistent, so an implementation may not call back into it.
pub(crate) trait Env {
    /// Sends `pkt` (a UDP payload) to `dst`; `entropy` selects a path.
    fn transmit(&mut self, dst: &Addr, entropy: u16, pkt: &[u8]);
    /// Sends a packet made of `scratch[..hdr_len]` (its headers) and `len`
    /// bytes of local buffer `buf` at `offset` to `dst`. `scratch` is the
    /// engine's packet buffer, with room for the payload after the
    /// headers. The default reads the payload there and calls
    /// [`Env::transmit`]; an environment that can copy the payload straight
    /// into its own packet (the kernel's skb) overrides it, saving a copy.
    #[allow(clippy::too_many_arguments)]
    fn transmit_local(
        &mut self,
        dst: &Addr,
        entropy: u16,
        scratch: &mut [u8],
        hdr_len: usize,
        buf: u64,
        offset: u64,
        len: usize,
    ) {
        let Some(end) = hdr_len.checked_add(len) else {
            return;
        };
        let Some(payload) = scratch.get_mut(hdr_len..end) else {
            return;
        };
        self.read_local(buf, offset, payload);
        self.transmit(dst, entropy, &scratch[..end]);
    }
    /// The peer at `dst` proved that our packets reach it, and the next
    /// packet the engine sends (at once, in this call, unless it cannot
    /// be built) goes to it. The proof is one of a PDC's: an ACK made
    /// progress (acknowledged new packets, brought a READ's data or an
    /// atomic's result: initiator), or a request on an established PDC
    /// (naming our PDC id) carried a clear PSN past the last one and
    /// within what we acknowledged, i.e. the initiator's window moved on
    /// our ACKs (target); the PDC keeps it until it next sends. An environment that resolves link-layer
    /// addresses may confirm the peer's neighbour entry with that packet,
    /// as TCP does on forward progress, so that a PDC in use does not
    /// depend on neighbour probes (which a lossy link can lose, in a row,
    /// for seconds). The default does nothing.
    fn reachable(&mut self, _dst: &Addr) {}
    /// Reports a completion.
    fn complete(&mut self, c: &Completion);
    /// Copies `out.len()` bytes at `offset` out of local buffer `buf` (a
    /// send or write's payload, or the rest of a rendezvous send a target
    /// reads; always within `Post::len` of the post that named `buf`).
    fn read_local(&mut self, buf: u64, offset: u64, out: &mut [u8]);
    /// Copies `data` into local buffer `buf` at `offset` (a receive, a
    /// read's sink, a fetching atomic's result; always within the length
    /// the buffer was posted with).
    fn write_local(&mut self, buf: u64, offset: u64, data: &[u8]);
    /// Resolves the target of a request from `src`: checks the JobID and
    /// the PIDonFEP and resource index in that job. Returns an endpoint id
    /// or an SES return code (`BAD_JOB_ID`, `BAD_PID`, `BAD_INDEX`...).
    fn resolve(&mut self, src: &Addr, addr: &SesAddr) -> Result<u32, u8>;
    /// Traffic class of endpoint `ep` (a target endpoint [`Env::resolve`]
    /// returned): the class of the rendezvous READs the engine sends on
    /// its behalf, which must travel as the messages they complete did.
    /// The default is class 0.
    fn traffic_class(&mut self, _ep: u32) -> u8 {
        0
    }
    /// RMA write into the memory that `key` names at endpoint `ep`.
    fn rma_write(&mut self, ep: u32, key: u64, offset: u64, data: &[u8]) -> Result<(), u8>;
    /// Checks, when the first packet of an RMA write arrives, that the
    /// whole range `[offset, offset + len)` of the memory `key` names at
    /// endpoint `ep` may be written, so that a write that would fail part
    /// way is refused whole and leaves the memory untouched (the SES
    /// return code otherwise). The default accepts: [`Env::rma_write`]
    /// checks every packet anyway.
    fn rma_check_write(&mut self, _ep: u32, _key: u64, _offset: u64, _len: u32) -> Result<(), u8> {
        Ok(())
    }
    /// RMA read from the memory that `key` names at endpoint `ep` (never
    /// called with bit 63 of `key` set: that key space is the engine's
    /// own, for rendezvous reads).
    fn rma_read(&mut self, ep: u32, key: u64, offset: u64, out: &mut [u8]) -> Result<(), u8>;
    /// Atomic read-modify-write of the native-endian `u64` at `offset` of
    /// the memory that `key` names at endpoint `ep` ([`AtomicOp::apply`]
    /// gives the new value): returns the previous value, or an SES return
    /// code (`BAD_MKEY`, `PERM_VIOLATION`, `BAD_ADDR`, `AMO_UNALIGNED` if
    /// the address is not 8-byte aligned; `offset` is, the engine checks
    /// that). Atomic with respect to every other engine call (it runs
    /// under the engine's lock) and to other atomics on that memory; the
    /// engine calls it once per atomic request, never for a duplicate.
    fn rma_atomic(
        &mut self,
        ep: u32,
        key: u64,
        offset: u64,
        op: AtomicOp,
        operand: u64,
        compare: u64,
    ) -> Result<u64, u8>;
    /// A buffer of `len` bytes for unexpected message `slot`, if any.
    fn overflow_alloc(&mut self, slot: u16, len: u32) -> Option<u64>;
    /// Moves `len` bytes of overflow buffer `from` into local buffer `to`
    /// and releases the overflow buffer.
    fn overflow_drain(&mut self, from: u64, to: u64, len: u32);
    /// Releases overflow buffer `buf` without delivering it: the message
    /// was abandoned before it completed (its PDC went away).
    fn overflow_free(&mut self, buf: u64);
}

/// True when a message with match bits `bits` matches a receive posted
/// with `tag` and `ignore` (bits set in `ignore` are don't-care).
pub(crate) fn tag_matches(bits: u64, tag: u64, ignore: u64) -> bool {
    (bits ^ tag) & !ignore == 0
}

/// Number of packets a message of `len` bytes needs with `mtu` payload
/// bytes per packet (a zero-length message still takes one packet).
pub(crate) fn segments(len: u32, mtu: u32) -> u32 {
    if len == 0 {
        1
    } else {
        len.div_ceil(mtu)
    }
}

/// `(offset, length)` of segment `k` of a `len`-byte message.
pub(crate) fn segment(len: u32, mtu: u32, k: u32) -> (u32, u32) {
    let off = k.saturating_mul(mtu).min(len);
    (off, (len - off).min(mtu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert!(tag_matches(0x1234, 0x1234, 0));
        assert!(!tag_matches(0x1234, 0x1235, 0));
        assert!(tag_matches(0x1234, 0x12ff, 0xff));
        assert!(tag_matches(u64::MAX, 0, u64::MAX));
    }

    #[test]
    fn segmentation() {
        assert_eq!(segments(0, 4096), 1);
        assert_eq!(segments(4096, 4096), 1);
        assert_eq!(segments(4097, 4096), 2);
        assert_eq!(segment(4097, 4096, 0), (0, 4096));
        assert_eq!(segment(4097, 4096, 1), (4096, 1));
        assert_eq!(segment(0, 4096, 0), (0, 0));
        let mut total = 0;
        for k in 0..segments(1 << 20, 4000) {
            total += segment(1 << 20, 4000, k).1;
        }
        assert_eq!(total, 1 << 20);
    }
}
