// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! The protocol engine inside the device model: its tables live in
//! `kvmalloc()` memory (`KVVec`), built at run time with the sizes the
//! device chooses, so no table is ever on a kernel stack.
//!
//! The engine is `Engine<KSlab>`; see
//! `Documentation/infiniband/ultraeth-engine.rst` ("Kernel-facing API") for
//! how the data path drives it (one engine per shard behind an irq-safe
//! lock, time from the clock, a soft timer from `next_deadline()`).

use crate::proto::engine::{
    Config,
    Engine,
    Held,
    InMsg,
    InitError,
    Msg,
    Pdc,
    Quota,
    Recv,
    Slab,
    Tables,
    Tomb,
    TxDesc,
    Unexp,
    MAX_TX_WINDOW,
    PKT_BUF, //
};
use kernel::prelude::*;

/// Engine storage in `kvmalloc()` memory.
pub(crate) struct KSlab;

impl Slab for KSlab {
    type Of<T> = KVVec<T>;
}

/// An engine of the device model.
pub(crate) type DevEngine = Engine<KSlab>;

/// Capacities of an engine.
#[derive(Clone, Copy)]
pub(crate) struct Sizes {
    /// PDCs (both roles).
    pub(crate) pdcs: usize,
    /// Initiator messages.
    pub(crate) msgs: usize,
    /// Posted receives, inbound and unexpected messages (each).
    pub(crate) recvs: usize,
    /// Send windows shared by the PDCs.
    pub(crate) windows: usize,
}

fn table<T: Clone>(value: T, n: usize) -> Result<KVVec<T>> {
    Ok(KVVec::from_elem(value, n, GFP_KERNEL)?)
}

fn buckets(n: usize) -> usize {
    Tables::<KSlab>::buckets(n)
}

/// UUD datagrams remembered to drop the copies the network makes.
const UUD_SEEN: usize = 256;

/// Builds an engine with the capacities `s`. May sleep (allocates).
pub(crate) fn new_engine(cfg: Config, s: Sizes) -> Result<KBox<DevEngine>> {
    let quotas = (s.pdcs + 4 * s.recvs).min(65_534);
    // CAST: MAX_TX_WINDOW is a small u32 constant.
    let window = MAX_TX_WINDOW as usize;
    let tables = Tables {
        pdcs: table(Pdc::EMPTY, s.pdcs)?,
        msgs: table(Msg::EMPTY, s.msgs)?,
        recvs: table(Recv::EMPTY, s.recvs)?,
        inb: table(InMsg::EMPTY, s.recvs)?,
        unexp: table(Unexp::EMPTY, s.recvs)?,
        buf: table(0u8, PKT_BUF)?,
        pdc_map: table(0u16, buckets(s.pdcs))?,
        msg_map: table(0u16, buckets(s.msgs))?,
        inb_map: table(0u16, buckets(s.recvs))?,
        heap: table(0u32, s.pdcs + s.msgs + s.recvs)?,
        quotas: table(Quota::EMPTY, quotas)?,
        quota_map: table(0u16, buckets(quotas))?,
        tombs: table(Tomb::EMPTY, s.pdcs)?,
        tomb_map: table(0u16, buckets(s.pdcs))?,
        txq: table(TxDesc::EMPTY, s.windows * window)?,
        recv_map: table(0u32, buckets(s.recvs))?,
        unexp_map: table(0u32, buckets(s.recvs))?,
        // No ROD reorder buffer yet: ROD targets go back N.
        held: table(Held::EMPTY, 0)?,
        held_buf: table(0u8, 0)?,
        uud_seen: table(0u64, UUD_SEEN)?,
    };
    let engine = DevEngine::new(cfg, tables).map_err(|e: InitError| {
        pr_err!("uet_soft: engine tables refused: {:?}\n", e);
        EINVAL
    })?;
    Ok(KBox::new(engine, GFP_KERNEL)?)
}

#[kunit_tests(uet_soft_engine)]
mod tests {
    use super::*;
    use crate::proto::{
        ses::{
            Addr,
            AtomicOp,
            CompKind,
            Completion,
            Env,
            Mode,
            Op,
            Post,
            Status, //
        },
        wire::ses::SesAddr,
    };

    const A: Addr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1];
    const B: Addr = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2];
    const JOB: u32 = 0x77;

    /// A node's environment: packets queued for the other node, its
    /// completions and two small local buffers.
    struct Node {
        out: KVec<(Addr, KVec<u8>)>,
        comps: KVec<Completion>,
        bufs: [[u8; 256]; 2],
    }

    impl Node {
        fn new() -> Self {
            Self {
                out: KVec::new(),
                comps: KVec::new(),
                bufs: [[0; 256]; 2],
            }
        }

        fn buf(&mut self, b: u64, off: u64, n: usize) -> Option<&mut [u8]> {
            let b = usize::try_from(b).ok()?;
            let off = usize::try_from(off).ok()?;
            self.bufs.get_mut(b)?.get_mut(off..off.checked_add(n)?)
        }
    }

    impl Env for Node {
        fn transmit(&mut self, dst: &Addr, _entropy: u16, pkt: &[u8]) {
            let mut v = KVec::new();
            if v.extend_from_slice(pkt, GFP_KERNEL).is_ok() {
                let _ = self.out.push((*dst, v), GFP_KERNEL);
            }
        }
        fn complete(&mut self, c: &Completion) {
            let _ = self.comps.push(*c, GFP_KERNEL);
        }
        fn read_local(&mut self, buf: u64, offset: u64, out: &mut [u8]) {
            if let Some(b) = self.buf(buf, offset, out.len()) {
                out.copy_from_slice(b);
            }
        }
        fn write_local(&mut self, buf: u64, offset: u64, data: &[u8]) {
            if let Some(b) = self.buf(buf, offset, data.len()) {
                b.copy_from_slice(data);
            }
        }
        fn resolve(&mut self, _src: &Addr, addr: &SesAddr) -> Result<u32, u8> {
            // endpoint 0 of job JOB; anything else is a bad JobID
            if addr.job == JOB {
                Ok(0)
            } else {
                Err(0x1b)
            }
        }
        fn rma_write(&mut self, _ep: u32, _key: u64, _off: u64, _data: &[u8]) -> Result<(), u8> {
            Err(0x17)
        }
        fn rma_read(&mut self, _ep: u32, _key: u64, _off: u64, _out: &mut [u8]) -> Result<(), u8> {
            Err(0x17)
        }
        fn rma_atomic(
            &mut self,
            _ep: u32,
            _key: u64,
            _off: u64,
            _op: AtomicOp,
            _operand: u64,
            _compare: u64,
        ) -> Result<u64, u8> {
            Err(0x17)
        }
        fn overflow_alloc(&mut self, _slot: u16, _len: u32) -> Option<u64> {
            None
        }
        fn overflow_drain(&mut self, _from: u64, _to: u64, _len: u32) {}
        fn overflow_free(&mut self, _buf: u64) {}
    }

    /// Moves every queued packet to its destination until none is left or
    /// `rounds` passes went by.
    fn pump(a: &mut DevEngine, na: &mut Node, b: &mut DevEngine, nb: &mut Node, now: u64) {
        for _ in 0..64 {
            if na.out.is_empty() && nb.out.is_empty() {
                return;
            }
            let from_a = core::mem::take(&mut na.out);
            for (dst, p) in from_a.iter() {
                if *dst == B {
                    b.receive(now, &A, p, nb);
                }
            }
            let from_b = core::mem::take(&mut nb.out);
            for (dst, p) in from_b.iter() {
                if *dst == A {
                    a.receive(now, &B, p, na);
                }
            }
        }
    }

    /// A fresh engine built in kvmalloc'ed tables owns nothing and has no
    /// timer to run.
    #[test]
    fn a_fresh_engine_is_idle() -> Result {
        let e = new_engine(
            Config::DEFAULT,
            Sizes {
                pdcs: 64,
                msgs: 64,
                recvs: 64,
                windows: 4,
            },
        )?;
        assert_eq!(e.next_deadline(), None);
        assert_eq!(e.usage(), (0, 0, 0, 0, 0));
        assert_eq!(e.pdcs().len(), 64);
        Ok(())
    }

    /// The engine runs in the kernel with its tables in kvmalloc'ed memory:
    /// a send from one engine reaches a receive posted on another, intact,
    /// and both sides complete once.
    #[test]
    fn a_send_reaches_a_posted_receive() -> Result {
        let sizes = Sizes {
            pdcs: 4,
            msgs: 8,
            recvs: 8,
            windows: 2,
        };
        let mut ea = new_engine(Config::DEFAULT, sizes)?;
        let mut eb = new_engine(Config::DEFAULT, sizes)?;
        let mut na = KBox::new(Node::new(), GFP_KERNEL)?;
        let mut nb = KBox::new(Node::new(), GFP_KERNEL)?;
        na.bufs[0][..16].copy_from_slice(b"uet-soft engine!");
        assert_eq!(eb.post_recv(0, 7, 1, 64, None, &mut *nb), Ok(()));
        let post = Post {
            user: 9,
            dst: B,
            target: SesAddr {
                job: JOB,
                ..Default::default()
            },
            mode: Mode::Rud,
            op: Op::Send { tag: None },
            buf: 0,
            len: 16,
            hdr_data: 0x1234,
            with_data: true,
            tc: 0,
            initiator: 0x5005,
        };
        let mut now = 1_000;
        assert_eq!(ea.post(now, &post, &mut *na), Ok(()));
        assert!(!na.out.is_empty());
        // Deliver packets at once and run timers as they fall due, for at
        // most one simulated second.
        while now < 1_000_000_000 && (nb.comps.is_empty() || na.comps.is_empty()) {
            pump(&mut ea, &mut na, &mut eb, &mut nb, now);
            let next = [ea.next_deadline(), eb.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(u64::MAX);
            now = next.max(now + 1);
            ea.on_timer(now, &mut *na);
            eb.on_timer(now, &mut *nb);
        }
        pump(&mut ea, &mut na, &mut eb, &mut nb, now);
        assert_eq!(nb.comps.len(), 1);
        assert_eq!(nb.comps[0].kind, CompKind::Recv);
        assert_eq!(nb.comps[0].status, Status::Ok);
        assert_eq!((nb.comps[0].user, nb.comps[0].len), (7, 16));
        assert_eq!(nb.comps[0].hdr_data, 0x1234);
        assert_eq!((nb.comps[0].initiator, nb.comps[0].job), (0x5005, JOB));
        assert_eq!(nb.comps[0].src, A);
        assert_eq!(&nb.bufs[1][..16], b"uet-soft engine!");
        assert_eq!(na.comps.len(), 1);
        assert_eq!(
            (na.comps[0].kind, na.comps[0].status, na.comps[0].user),
            (CompKind::Send, Status::Ok, 9)
        );
        Ok(())
    }
}
