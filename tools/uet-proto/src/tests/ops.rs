// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! Operations beyond plain sends and RMA: writes with header data that
//! complete at the target, atomics applied exactly once, and rendezvous
//! sends.

use super::*;

/// A lossy, duplicating, reordering wire.
fn rough(loss: f64) -> Link {
    Link {
        loss,
        dup: 0.05,
        reorder: 0.2,
        reorder_delay: 10_000,
        ..Link::CLEAN
    }
}

/// The `WriteData` completions at `node`.
fn write_data(net: &Net, node: usize) -> Vec<Completion> {
    comps(net, node)
        .iter()
        .filter(|c| c.kind == CompKind::WriteData)
        .copied()
        .collect()
}

/// A WRITE with header data completes once at the target, when it has
/// landed whole, with the writer's fields and no receive consumed; a
/// WRITE without header data and a failed one complete nothing there.
#[test]
fn write_with_data_completes_at_the_target() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 81);
    let data = pattern(1, 10_000);
    let wr = |key, offset| Op::Write { key, offset };
    // A receive is posted: a write must not take it.
    recv(&mut net, 1, 2, 64, 100, None);
    post_hd(
        &mut net,
        0,
        1,
        2,
        Mode::Rud,
        wr(MR_RW, 8),
        data.clone(),
        1,
        Some(0),
    )
    .unwrap();
    post_hd(
        &mut net,
        0,
        1,
        2,
        Mode::Rod,
        wr(MR_RW, 20_000),
        vec![3; 100],
        2,
        None,
    )
    .unwrap();
    post_hd(
        &mut net,
        0,
        1,
        2,
        Mode::Rud,
        wr(MR_RO, 0),
        vec![3; 100],
        3,
        Some(3),
    )
    .unwrap();
    post_hd(
        &mut net,
        0,
        1,
        2,
        Mode::Rud,
        wr(0x99, 0),
        vec![3; 5000],
        4,
        Some(4),
    )
    .unwrap();
    post_hd(
        &mut net,
        0,
        1,
        3,
        Mode::Rod,
        wr(MR_RW, 0),
        vec![5; 1],
        5,
        Some(u64::MAX),
    )
    .unwrap();
    assert!(net.run_until(1_000_000_000, |n| comps(n, 0).len() == 5));
    let mut st: Vec<(u64, Status)> = comps(&net, 0).iter().map(|c| (c.user, c.status)).collect();
    st.sort_by_key(|s| s.0);
    assert_eq!(
        st,
        vec![
            (1, Status::Ok),
            (2, Status::Ok),
            (3, Status::Remote(rc::PERM_VIOLATION)),
            (4, Status::Remote(rc::BAD_MKEY)),
            (5, Status::Ok),
        ]
    );
    let base = Completion {
        user: 0,
        kind: CompKind::WriteData,
        status: Status::Ok,
        len: 10_000,
        tag: 0,
        hdr_data: 0,
        with_data: true,
        ep: 2,
        src: addr(0),
        initiator: 0x321,
        job: JOB,
    };
    assert_eq!(
        write_data(&net, 1),
        vec![
            base,
            Completion {
                len: 1,
                hdr_data: u64::MAX,
                ep: 3,
                ..base
            }
        ]
    );
    // Nothing else completed at the target: the receive is still posted.
    assert_eq!(comps(&net, 1).len(), 2);
    assert_eq!(net.nodes[1].eng.usage().2, 1);
    let r = &net.nodes[1].env.regions[&(2, MR_RW)].data;
    assert!(r[8..10_008] == data[..]);
}

/// Under loss, duplication and reordering every write with header data
/// produces exactly one target completion, after all its data landed; a
/// write cancelled by its initiator produces none.
#[test]
fn write_with_data_exactly_once_on_a_rough_wire() {
    for (seed, loss) in [(82u64, 0.05), (83, 0.2)] {
        let mut net = net(2, fast_cfg(), rough(loss), seed);
        let mut want = Vec::new();
        for i in 0..24u64 {
            let len = [1usize, 4000, 4096, 9000, 40_000][i as usize % 5];
            let mode = if i % 3 == 0 { Mode::Rod } else { Mode::Rud };
            let off = i * 50_000;
            let data = pattern(i, len);
            let op = Op::Write {
                key: MR_RW,
                offset: off,
            };
            post_hd(&mut net, 0, 1, 1, mode, op, data.clone(), i, Some(i << 32)).unwrap();
            want.push((i << 32, len as u32, off, data));
        }
        // A long write cancelled while its packets are on the way.
        let op = Op::Write {
            key: MR_RW,
            offset: 0,
        };
        let b = post_hd(
            &mut net,
            0,
            1,
            2,
            Mode::Rud,
            op,
            pattern(9, 1 << 20),
            99,
            Some(99),
        )
        .unwrap();
        net.run_for(net.now + 20_000);
        assert_eq!(cancel(&mut net, 0, &[99], &[b]), 1);
        assert!(net.run_until(10_000_000_000, |n| comps(n, 0).len() == 25));
        assert!(comps(&net, 0)
            .iter()
            .all(|c| c.status == Status::Ok || c.user == 99));
        net.run_for(net.now + 50_000_000);
        let mut got: Vec<(u64, u32)> = write_data(&net, 1)
            .iter()
            .map(|c| (c.hdr_data, c.len))
            .collect();
        got.sort();
        let w: Vec<(u64, u32)> = want.iter().map(|w| (w.0, w.1)).collect();
        assert_eq!(got, w, "loss {loss}");
        let r = &net.nodes[1].env.regions[&(1, MR_RW)].data;
        for (_, len, off, data) in &want {
            let o = *off as usize;
            assert!(r[o..o + *len as usize] == data[..]);
        }
        assert!(net.nodes[1].eng.stats.dup > 0 || net.nodes[0].eng.stats.retx > 0);
        assert!(drained_after(&mut net));
    }
}

// ---------------------------------------------------------------------
// Atomics.

/// Posts an atomic from `src` on the `u64` at `offset` of `key` at
/// endpoint `ri` of `dst`; returns its 8-byte result buffer.
#[allow(clippy::too_many_arguments)]
fn atomic(
    net: &mut Net,
    src: usize,
    dst: usize,
    ri: u16,
    mode: Mode,
    (key, offset): (u64, u64),
    op: AtomicOp,
    operand: u64,
    compare: u64,
    user: u64,
) -> Result<u64, PostError> {
    let op = Op::Atomic {
        key,
        offset,
        op,
        operand,
        compare,
    };
    post_hd(net, src, dst, ri, mode, op, vec![0xee; 8], user, None)
}

/// The `u64` (native endian) at `offset` of `buf` at `node`.
fn word(net: &Net, node: usize, buf: u64, offset: usize) -> u64 {
    let b = &net.nodes[node].env.bufs[buf as usize];
    u64::from_ne_bytes(b[offset..offset + 8].try_into().unwrap())
}

/// The `u64` at `offset` of region `key` of endpoint `ep` at `node`.
fn target_word(net: &Net, node: usize, ep: u32, key: u64, offset: usize) -> u64 {
    let r = &net.nodes[node].env.regions[&(ep, key)].data;
    u64::from_ne_bytes(r[offset..offset + 8].try_into().unwrap())
}

fn set_target_word(net: &mut Net, node: usize, ep: u32, key: u64, offset: usize, v: u64) {
    let r = &mut net.nodes[node]
        .env
        .regions
        .get_mut(&(ep, key))
        .unwrap()
        .data;
    r[offset..offset + 8].copy_from_slice(&v.to_ne_bytes());
}

/// N initiators each fetch-add 1 M times to one counter, RUD and ROD,
/// all posted at once, on a clean wire and under 5% and 20% loss with
/// duplication and reordering (and 5% with implied success): the counter
/// ends at N * M, the previous
/// values the initiators got are exactly 0..N*M, each once, and the
/// target applied N * M atomics (duplicates were answered, not applied).
#[test]
fn fetch_add_counter_is_exact_under_loss() {
    const N: usize = 4;
    const M: u64 = 40;
    for (seed, loss, implied_ok) in [
        (91u64, 0.0, false),
        (92, 0.05, false),
        (93, 0.2, false),
        (96, 0.05, true),
    ] {
        let link = if loss == 0.0 {
            Link::CLEAN
        } else {
            rough(loss)
        };
        let cfg = Config {
            implied_ok,
            ..fast_cfg()
        };
        let mut net = net(N + 1, cfg, link, seed);
        set_target_word(&mut net, N, 1, MR_RW, 64, 0);
        let mut bufs = Vec::new();
        for k in 0..M {
            for i in 0..N {
                let mode = if i % 2 == 0 { Mode::Rud } else { Mode::Rod };
                let user = (i as u64) << 32 | k;
                let op = AtomicOp::FetchAdd;
                let b = atomic(&mut net, i, N, 1, mode, (MR_RW, 64), op, 1, 0, user).unwrap();
                bufs.push((i, user, b));
            }
        }
        let all = |n: &Net| (0..N).all(|i| comps(n, i).len() == M as usize);
        assert!(net.run_until(60_000_000_000, all), "loss {loss}");
        let mut olds = Vec::new();
        for &(i, user, b) in &bufs {
            let c = comps(&net, i).iter().find(|c| c.user == user).unwrap();
            assert_eq!((c.kind, c.status, c.len), (CompKind::Atomic, Status::Ok, 8));
            olds.push(word(&net, i, b, 0));
        }
        olds.sort();
        let want: Vec<u64> = (0..(N as u64) * M).collect();
        assert_eq!(olds, want, "loss {loss}");
        assert_eq!(target_word(&net, N, 1, MR_RW, 64), N as u64 * M);
        assert_eq!(net.nodes[N].env.atomics, N as u64 * M);
        assert_eq!(net.nodes[N].eng.stats.atomics, N as u64 * M);
        if loss > 0.0 {
            // Requests were resent and duplicated: answered from the ring.
            assert!(net.nodes[N].eng.stats.dup > 0, "loss {loss}");
        }
        assert!(drained_after(&mut net));
    }
}

/// A lock handed over with compare-and-swap: three initiators spin on a
/// lock word (0 free, else the holder's id) until each held it 3 times;
/// the holder increments a counter with a fetch-add inside and releases
/// with a compare-and-swap of its own id. Failed swaps change nothing,
/// a release always finds the holder's id, and the counter counts every
/// critical section once (5% loss, duplication, reordering).
#[test]
fn compare_and_swap_hands_a_lock_over() {
    const N: usize = 3;
    const ROUNDS: u64 = 3;
    let mut net = net(N + 1, fast_cfg(), rough(0.05), 94);
    let lock = (MR_RW, 0u64);
    let counter = (MR_RW, 8u64);
    set_target_word(&mut net, N, 2, MR_RW, 0, 0);
    set_target_word(&mut net, N, 2, MR_RW, 8, 0);
    #[derive(Clone, Copy, PartialEq, Debug)]
    enum St {
        Trying(u64),
        Inside(u64),
        Leaving(u64),
        Done,
    }
    let mut st = [St::Done; N];
    let mut seen = [0usize; N];
    let mut held = [0u64; N];
    let mut user = 0u64;
    let mut failed = 0;
    let cas = AtomicOp::CmpSwap;
    for (i, s) in st.iter_mut().enumerate() {
        user += 1;
        let id = i as u64 + 1;
        let b = atomic(&mut net, i, N, 2, Mode::Rud, lock, cas, id, 0, user).unwrap();
        *s = St::Trying(b);
    }
    let limit = 10_000_000_000;
    while st.iter().any(|s| *s != St::Done) {
        assert!(net.step(limit), "stuck: {st:?}");
        for i in 0..N {
            let cs = &net.nodes[i].env.completions;
            if cs.len() == seen[i] {
                continue;
            }
            assert_eq!(cs.len(), seen[i] + 1);
            let c = cs[seen[i]];
            seen[i] += 1;
            assert_eq!((c.kind, c.status), (CompKind::Atomic, Status::Ok));
            let id = i as u64 + 1;
            user += 1;
            st[i] = match st[i] {
                St::Trying(b) if word(&net, i, b, 0) == 0 => {
                    // Acquired: count the critical section.
                    let op = AtomicOp::FetchAdd;
                    let b = atomic(&mut net, i, N, 2, Mode::Rud, counter, op, 1, 0, user).unwrap();
                    St::Inside(b)
                }
                St::Trying(b) => {
                    let other = word(&net, i, b, 0);
                    assert!(other != id && other <= N as u64, "{other}");
                    failed += 1;
                    let b = atomic(&mut net, i, N, 2, Mode::Rud, lock, cas, id, 0, user).unwrap();
                    St::Trying(b)
                }
                St::Inside(_) => {
                    let b = atomic(&mut net, i, N, 2, Mode::Rud, lock, cas, 0, id, user).unwrap();
                    St::Leaving(b)
                }
                St::Leaving(b) => {
                    assert_eq!(word(&net, i, b, 0), id, "the lock was ours");
                    held[i] += 1;
                    if held[i] == ROUNDS {
                        St::Done
                    } else {
                        let b =
                            atomic(&mut net, i, N, 2, Mode::Rud, lock, cas, id, 0, user).unwrap();
                        St::Trying(b)
                    }
                }
                St::Done => panic!("completion after done: {c:?}"),
            };
        }
    }
    assert!(failed > 0, "the initiators never contended");
    assert_eq!(target_word(&net, N, 2, MR_RW, 0), 0);
    assert_eq!(target_word(&net, N, 2, MR_RW, 8), N as u64 * ROUNDS);
    assert!(drained_after(&mut net));
}

/// Atomics that fail at the target complete with the return code and
/// leave target memory and the result buffer alone: a bad key, an offset
/// past the end, a misaligned offset, a read-only region, an unknown job.
/// A compare-and-swap whose compare fails returns the value and changes
/// nothing. Posts that cannot be atomics are refused.
#[test]
fn atomic_errors_leave_memory_untouched() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 95);
    let before = net.nodes[1].env.regions.clone();
    let fa = AtomicOp::FetchAdd;
    let end = MR_LEN as u64;
    let cases = [
        (0x99, 0, rc::BAD_MKEY),
        (MR_RW, end, rc::BAD_ADDR),
        (MR_RW, end - 4, rc::AMO_UNALIGNED),
        (MR_RW, 12, rc::AMO_UNALIGNED),
        (MR_RO, 16, rc::PERM_VIOLATION),
    ];
    let mut bufs = Vec::new();
    for (u, &(key, off, _)) in cases.iter().enumerate() {
        let mode = if u % 2 == 0 { Mode::Rud } else { Mode::Rod };
        bufs.push(atomic(&mut net, 0, 1, 1, mode, (key, off), fa, 5, 0, u as u64).unwrap());
    }
    // A compare that fails.
    let v = target_word(&net, 1, 1, MR_RW, 24);
    let cas = AtomicOp::CmpSwap;
    let cb = atomic(&mut net, 0, 1, 1, Mode::Rud, (MR_RW, 24), cas, 1, !v, 10).unwrap();
    // An unknown job.
    let node = &mut net.nodes[0];
    let jb = node.env.add_buf(vec![0xee; 8]);
    let p = Post {
        user: 11,
        dst: addr(1),
        target: SesAddr {
            job: 99,
            ..target(1)
        },
        mode: Mode::Rud,
        op: Op::Atomic {
            key: MR_RW,
            offset: 0,
            op: AtomicOp::Add,
            operand: 1,
            compare: 0,
        },
        buf: jb,
        len: 8,
        hdr_data: 0,
        with_data: false,
        tc: 0,
        initiator: 0,
    };
    node.eng.post(0, &p, &mut node.env).unwrap();
    assert!(net.run_until(1_000_000_000, |n| comps(n, 0).len() == 7));
    for (u, &(_, _, code)) in cases.iter().enumerate() {
        let c = comps(&net, 0).iter().find(|c| c.user == u as u64).unwrap();
        assert_eq!(
            (c.kind, c.status, c.len),
            (CompKind::Atomic, Status::Remote(code), 0)
        );
        assert_eq!(net.nodes[0].env.bufs[bufs[u] as usize], vec![0xee; 8]);
    }
    let c = comps(&net, 0).iter().find(|c| c.user == 10).unwrap();
    assert_eq!(c.status, Status::Ok);
    assert_eq!(word(&net, 0, cb, 0), v);
    let c = comps(&net, 0).iter().find(|c| c.user == 11).unwrap();
    assert_eq!(c.status, Status::Remote(rc::BAD_JOB_ID));
    for (k, r) in &before {
        assert!(net.nodes[1].env.regions[k].data == r.data, "{k:?} changed");
    }
    assert_eq!(net.nodes[1].env.atomics, 1);
    // Not atomics: other lengths, RUDI and UUD, header data.
    let op = Op::Atomic {
        key: MR_RW,
        offset: 0,
        op: fa,
        operand: 1,
        compare: 0,
    };
    let tries = [
        (Mode::Rud, 4, None),
        (Mode::Rod, 16, None),
        (Mode::Rudi, 8, None),
        (Mode::Uud, 8, None),
        (Mode::Rud, 8, Some(1)),
    ];
    for (mode, len, hd) in tries {
        let r = post_hd(&mut net, 0, 1, 1, mode, op, vec![0; len], 50, hd);
        assert_eq!(r, Err(PostError::Invalid), "{mode:?} {len} {hd:?}");
    }
    assert!(drained_after(&mut net));
}

// ---------------------------------------------------------------------
// Rendezvous sends.

/// The eager limit of `fast_cfg()` (the default).
const EAGER: usize = 64 << 10;

/// Posts a send of `data` from node 0 to endpoint `ri` of node 1, tagged
/// `tag` if any (header data: `user`).
fn send_to(net: &mut Net, ri: u16, mode: Mode, tag: Option<u64>, data: Vec<u8>, user: u64) -> u64 {
    let op = Op::Send { tag };
    post_hd(net, 0, 1, ri, mode, op, data, user, Some(user)).unwrap()
}

/// Every size around the eager limit up to 16 MiB, tagged and untagged,
/// expected and unexpected, RUD and ROD, on a clean wire and under 1%, 5%
/// and 20% loss with duplication and reordering: every receive completes
/// once with its message intact, after which (never before) its send
/// completes `Ok`; an unexpected message never asks for an overflow
/// buffer longer than the eager limit; every table drains.
#[test]
fn rendezvous_sends_of_every_size() {
    let sizes = [0, 1, EAGER - 1, EAGER, EAGER + 1, 1 << 20, 16 << 20];
    for (seed, loss) in [(101u64, 0.0), (102, 0.01), (103, 0.05), (104, 0.2)] {
        let link = if loss == 0.0 {
            Link::CLEAN
        } else {
            rough(loss)
        };
        let mut net = net(2, fast_cfg(), link, seed);
        // (user, data, receive buffer, expected).
        let mut msgs = Vec::new();
        let mut user = 0u64;
        for (k, &len) in sizes.iter().enumerate() {
            for expected in [true, false] {
                user += 1;
                let tag = (k % 2 == 0).then_some(0x7700 + user);
                let ri = if expected { 1 } else { 2 };
                let mode = if user.is_multiple_of(3) {
                    Mode::Rod
                } else {
                    Mode::Rud
                };
                let rb = if expected {
                    recv(&mut net, 1, 1, len, user, tag.map(|t| (t, 0)))
                } else {
                    u64::MAX
                };
                let data = pattern(seed * 1000 + user, len);
                send_to(&mut net, ri, mode, tag, data.clone(), user);
                msgs.push((user, tag, data, rb, expected));
            }
        }
        // The unexpected ones arrive (their eager part), then receives.
        net.run_for(net.now + 2_000_000);
        assert!(net.nodes[1].eng.unexpected().count() > 0);
        for m in msgs.iter_mut().filter(|m| !m.4) {
            m.3 = recv(&mut net, 1, 2, m.2.len(), m.0, m.1.map(|t| (t, 0)));
        }
        let n = msgs.len();
        // A send completes only once its receive has.
        let ok = net.run_until(net.now + 60_000_000_000, |net| {
            for c in comps(net, 0) {
                assert!(
                    comps(net, 1).iter().any(|r| r.hdr_data == c.user),
                    "send {} completed before its receive",
                    c.user
                );
            }
            comps(net, 0).len() == n && comps(net, 1).len() == n
        });
        assert!(ok, "loss {loss}: {:?}", net.nodes[0].eng.stats);
        for (user, tag, data, rb, _) in &msgs {
            let s = comps(&net, 0).iter().find(|c| c.user == *user).unwrap();
            assert_eq!((s.kind, s.status), (CompKind::Send, Status::Ok));
            let r = comps(&net, 1).iter().find(|c| c.user == *user).unwrap();
            assert_eq!(
                (r.status, r.len as usize, r.tag, r.hdr_data, r.with_data),
                (Status::Ok, data.len(), tag.unwrap_or(0), *user, true),
                "loss {loss}"
            );
            assert!(net.nodes[1].env.bufs[*rb as usize] == *data, "user {user}");
        }
        assert!(net.nodes[1].env.max_overflow as usize <= EAGER);
        // EAGER + 1, 1 MiB and 16 MiB, expected and unexpected, were read.
        assert_eq!(net.nodes[1].eng.stats.rndv_reads, 6);
        assert!(drained_after(&mut net), "loss {loss}");
        assert!(net.nodes[1].env.overflow.is_empty());
        if loss > 0.0 {
            assert!(net.nodes[0].eng.stats.retx + net.nodes[1].eng.stats.retx > 0);
        }
    }
}

/// A receive shorter than a rendezvous message takes what fits (the rest
/// is not read), completes `Truncated`, and the send is answered
/// `TOO_LONG`; one shorter than the eager part reads nothing.
#[test]
fn rendezvous_into_a_short_receive_is_truncated() {
    let mut net = net(2, fast_cfg(), rough(0.05), 105);
    let big = pattern(1, 1 << 20);
    let rb1 = recv(&mut net, 1, 1, 100_000, 1, None);
    send_to(&mut net, 1, Mode::Rud, None, big.clone(), 1);
    let rb2 = recv(&mut net, 1, 1, 1000, 2, None);
    send_to(&mut net, 1, Mode::Rud, None, big.clone(), 2);
    assert!(net.run_until(10_000_000_000, |n| comps(n, 0).len() == 2));
    for (user, rb, len) in [(1, rb1, 100_000), (2, rb2, 1000)] {
        let s = comps(&net, 0).iter().find(|c| c.user == user).unwrap();
        assert_eq!(s.status, Status::Remote(rc::TOO_LONG));
        let r = comps(&net, 1).iter().find(|c| c.user == user).unwrap();
        assert_eq!((r.status, r.len), (Status::Truncated, len as u32));
        assert!(net.nodes[1].env.bufs[rb as usize] == big[..len]);
    }
    // Only the 100 KB receive needed a READ (of 34464 bytes).
    assert_eq!(net.nodes[1].eng.stats.rndv_reads, 1);
    assert!(drained_after(&mut net));
}

/// Cancel at either end while the target reads a rendezvous send: a send
/// cancelled by its initiator completes `Cancelled` at the call, its
/// receive is given back and takes the next message; a receive cancelled
/// while it is being read answers the send `CANCELLED`; a PDC that fails
/// fails the send (`PdcError`) and gives the receive back. Every table
/// drains.
#[test]
fn rendezvous_cancel_and_failure() {
    let link = Link {
        bandwidth: 10_000_000_000,
        ..Link::CLEAN
    };
    // The initiator cancels while the target reads.
    let mut net = net(2, fast_cfg(), link, 106);
    let big = pattern(2, 4 << 20);
    let rb = recv(&mut net, 1, 1, 4 << 20, 100, None);
    let sb = send_to(&mut net, 1, Mode::Rud, None, big.clone(), 1);
    let reading = |n: &Net| {
        n.nodes[1].env.bufs[rb as usize][1 << 20..(1 << 20) + 16] == big[1 << 20..(1 << 20) + 16]
    };
    assert!(net.run_until(1_000_000_000, reading));
    assert_eq!(cancel(&mut net, 0, &[1], &[sb]), 1);
    let small = pattern(3, 5000);
    send_to(&mut net, 1, Mode::Rud, None, small.clone(), 2);
    assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 1).len() == 1));
    let r = comps(&net, 1)[0];
    assert_eq!(
        (r.user, r.status, r.len, r.hdr_data),
        (100, Status::Ok, 5000, 2)
    );
    assert!(net.nodes[1].env.bufs[rb as usize][..5000] == small[..]);
    assert!(drained_after(&mut net));
    assert_eq!(comps_of(&net, 0, 1)[0].status, Status::Cancelled);
    assert_eq!(comps_of(&net, 0, 1).len(), 1);

    // The target cancels the receive while it is read.
    let mut net = self::net(2, fast_cfg(), link, 107);
    let rb = recv(&mut net, 1, 1, 4 << 20, 100, None);
    send_to(&mut net, 1, Mode::Rod, None, big.clone(), 1);
    let reading = |n: &Net| {
        n.nodes[1].env.bufs[rb as usize][1 << 20..(1 << 20) + 16] == big[1 << 20..(1 << 20) + 16]
    };
    assert!(net.run_until(1_000_000_000, reading));
    assert_eq!(cancel(&mut net, 1, &[100], &[rb]), 1);
    assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Remote(rc::CANCELLED));
    assert!(drained_after(&mut net));
    assert_eq!(comps(&net, 1).len(), 1);

    // The wire goes dark while the target reads.
    let mut net = self::net(2, fast_cfg(), link, 108);
    let rb = recv(&mut net, 1, 1, 4 << 20, 100, None);
    send_to(&mut net, 1, Mode::Rud, None, big.clone(), 1);
    let reading = |n: &Net| {
        n.nodes[1].env.bufs[rb as usize][1 << 20..(1 << 20) + 16] == big[1 << 20..(1 << 20) + 16]
    };
    assert!(net.run_until(1_000_000_000, reading));
    net.link.loss = 1.0;
    assert!(net.run_until(net.now + 10_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::PdcError);
    net.run_for(net.now + 10_000_000_000);
    assert!(comps(&net, 1).is_empty(), "the receive is given back");
    assert_eq!(net.nodes[1].eng.usage(), (0, 0, 1, 0, 0));
    assert_eq!(cancel(&mut net, 1, &[100], &[rb]), 1);
    assert!(drained(&net));
}

/// The key a rendezvous send names serves only the FEP it was sent to,
/// with its JobID and the initiator's endpoint, within the send: a READ
/// from elsewhere (or for another job, endpoint or range) is refused
/// `BAD_MKEY` or `BAD_ADDR`, and the same READ from the target is served.
#[test]
fn rendezvous_key_serves_only_its_target() {
    use crate::proto::wire::{emit_headers, parse, pds::*, ses::*, NextHeader};
    let mut net = net(2, fast_cfg(), Link::CLEAN, 109);
    net.capture = Some(Vec::new());
    let data = pattern(4, 200_000);
    send_to(&mut net, 1, Mode::Rud, None, data.clone(), 1);
    net.run_for(net.now + 1_000_000);
    // The key, from the captured RNDV_SEND.
    let ext = net
        .capture
        .as_ref()
        .unwrap()
        .iter()
        .find_map(|(f, _, b)| match parse(b).ok()?.ses? {
            SesHeader::Req(r) if *f == 0 && r.opcode == op::RNDV_SEND => Some(r.ext),
            _ => None,
        })
        .unwrap();
    let ReqExt::Rendezvous {
        eager_length,
        read_pid,
        read_ri,
        read_offset,
        read_match_bits: key,
        ..
    } = ext
    else {
        panic!("{ext:?}")
    };
    assert_eq!((eager_length as usize, read_offset), (EAGER, EAGER as u64));
    assert_eq!((read_pid, read_ri), (0x321, 0));
    assert_ne!(key & 1 << 63, 0);
    // RUDI READs of 100 bytes at `off`, as `from`, for `job` and `pid`,
    // made by endpoint `by` of `from` (SES initiator field).
    let ask_by = |net: &mut Net, from: Addr, by: u32, job: u32, pid: u16, key: u64, off: u64| {
        let h = PdsHeader::RudiReq {
            ecn: false,
            next: NextHeader::ReqMedium,
            retx: false,
            pkt_id: 77,
        };
        let s = SesHeader::Req(SesReq {
            opcode: op::READ,
            flags: sflags::SOM | sflags::EOM,
            addr: SesAddr {
                ri_gen: 0,
                job,
                pid,
                ri: 0,
            },
            body: ReqBody::Medium {
                request_length: 100,
                buffer_offset: off,
                initiator: by,
                key,
            },
            ext: ReqExt::None,
        });
        let mut pkt = [0u8; 128];
        let n = emit_headers(&h, Some(&s), &mut pkt).unwrap();
        net.nodes[0].env.outbox.clear();
        inject_raw(net, 0, from, &pkt[..n]);
        let (_, _, out) = net.nodes[0].env.outbox.pop().unwrap();
        let p = parse(&out).unwrap();
        let Some(SesHeader::Resp(r)) = p.ses else {
            panic!("{p:?}")
        };
        (r.rc, p.payload.to_vec())
    };
    // The send went to endpoint {pid 1, ri 1} of node 1.
    let dest = 1 << 12 | 1;
    let ask = |net: &mut Net, from: Addr, job: u32, pid: u16, key: u64, off: u64| {
        ask_by(net, from, dest, job, pid, key, off)
    };
    let o = EAGER as u64;
    // Another endpoint of the job on that FEP may not pull.
    let me = addr(1);
    for other in [0, 1 << 12 | 2, 2 << 12 | 1] {
        let got = ask_by(&mut net, me, other, JOB, 0x321, key, o).0;
        assert_eq!(got, rc::BAD_MKEY, "{other:#x}");
    }
    assert_eq!(
        ask(&mut net, attacker(1), JOB, 0x321, key, o).0,
        rc::BAD_MKEY
    );
    assert_eq!(ask(&mut net, me, JOB + 1, 0x321, key, o).0, rc::BAD_MKEY);
    assert_eq!(ask(&mut net, me, JOB, 0x322, key, o).0, rc::BAD_MKEY);
    assert_eq!(
        ask(&mut net, me, JOB, 0x321, key ^ 1 << 40, o).0,
        rc::BAD_MKEY
    );
    assert_eq!(ask(&mut net, me, JOB, 0x321, key, 199_950).0, rc::BAD_ADDR);
    let (code, got) = ask(&mut net, me, JOB, 0x321, key, o);
    assert_eq!(code, rc::OK);
    assert!(got == data[EAGER..EAGER + 100]);
    // The send is still pending (no receive); once it is received, its
    // key is dead.
    recv(&mut net, 1, 1, 200_000, 9, None);
    assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(ask(&mut net, me, JOB, 0x321, key, o).0, rc::BAD_MKEY);
    assert!(net.nodes[1].env.bufs.last().unwrap()[..] == data[..]);
}

/// Keys with bit 63 belong to the engine (rendezvous READs): a user READ,
/// WRITE or atomic naming one is refused at the post.
#[test]
fn user_operations_may_not_name_a_rendezvous_key() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 111);
    let key = 1 << 63 | MR_RW;
    let ops = [
        (Op::Read { key, offset: 0 }, 100),
        (Op::Write { key, offset: 0 }, 100),
        (
            Op::Atomic {
                key,
                offset: 0,
                op: AtomicOp::FetchAdd,
                operand: 1,
                compare: 0,
            },
            8,
        ),
    ];
    for (op, len) in ops {
        for mode in [Mode::Rud, Mode::Rod] {
            let r = post_hd(&mut net, 0, 1, 1, mode, op, vec![0; len], 60, None);
            assert_eq!(r, Err(PostError::Invalid), "{op:?} {mode:?}");
        }
    }
    assert!(drained_after(&mut net));
}

/// The rendezvous key (read_match_bits) of the first RNDV_SEND node 0
/// sends with `cfg` in a network of seed `seed` (which sets
/// `Config::seed`), and the start PSN of its first SYN.
fn first_rndv_key(cfg: Config, seed: u64) -> (u64, u32) {
    use crate::proto::wire::{parse, pds::PdsHeader, ses::*};
    let mut net = net(2, cfg, Link::CLEAN, seed);
    net.capture = Some(Vec::new());
    send_to(&mut net, 1, Mode::Rud, None, pattern(6, 100_000), 1);
    net.run_for(net.now + 1_000_000);
    let cap = net.capture.as_ref().unwrap();
    let key = cap
        .iter()
        .find_map(|(f, _, b)| match parse(b).ok()?.ses? {
            SesHeader::Req(SesReq {
                ext: ReqExt::Rendezvous {
                    read_match_bits, ..
                },
                ..
            }) if *f == 0 => Some(read_match_bits),
            _ => None,
        })
        .unwrap();
    let psn = cap
        .iter()
        .find_map(|(f, _, b)| match parse(b).ok()?.pds {
            PdsHeader::Req(r) if *f == 0 => Some(r.psn),
            _ => None,
        })
        .unwrap();
    (key, psn)
}

/// The rendezvous key's nonce comes from `Config::key_seed` (secret), not
/// from the PSN generator, whose seed a peer can tell from one start PSN:
/// the same `seed` (same start PSNs) with another `key_seed` gives
/// another nonce, and another `seed` with the same `key_seed` the same.
#[test]
fn rendezvous_key_nonce_is_keyed_apart_from_the_psn_seed() {
    let nonce = |k: u64| k >> 16 & ((1 << 47) - 1);
    let cfg = fast_cfg();
    let (k0, p0) = first_rndv_key(cfg, 112);
    let (k1, p1) = first_rndv_key(
        Config {
            key_seed: cfg.key_seed ^ 1,
            ..cfg
        },
        112,
    );
    let (k2, p2) = first_rndv_key(cfg, 113);
    assert_eq!(p0, p1);
    assert_ne!(p0, p2);
    assert_ne!(nonce(k0), nonce(k1));
    assert_eq!(k0, k2);
    assert_ne!(nonce(k0), 0);
}

/// RMA writes and reads of 16 MiB, many packets each way, under 5% loss
/// with duplication and reordering.
#[test]
fn rma_of_sixteen_mib() {
    const LEN: usize = 16 << 20;
    let mut net = net(2, fast_cfg(), rough(0.05), 110);
    net.nodes[1].env.regions.insert(
        (4, 0x40),
        Region {
            data: vec![0; LEN],
            writable: true,
            readable: true,
        },
    );
    let data = pattern(5, LEN);
    let wr = Op::Write {
        key: 0x40,
        offset: 0,
    };
    post_hd(&mut net, 0, 1, 4, Mode::Rud, wr, data.clone(), 1, Some(1)).unwrap();
    assert!(net.run_until(60_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    assert!(net.nodes[1].env.regions[&(4, 0x40)].data == data);
    assert_eq!(write_data(&net, 1).len(), 1);
    let rd = Op::Read {
        key: 0x40,
        offset: 0,
    };
    let rb = post_hd(&mut net, 0, 1, 4, Mode::Rod, rd, vec![0; LEN], 2, None).unwrap();
    assert!(net.run_until(net.now + 60_000_000_000, |n| comps(n, 0).len() == 2));
    assert_eq!(comps(&net, 0)[1].status, Status::Ok);
    assert!(net.nodes[0].env.bufs[rb as usize] == data);
    assert!(net.nodes[0].eng.stats.retx > 0);
    assert!(drained_after(&mut net));
}

/// A rendezvous send answered in error long after its packets arrived,
/// when later messages have filled the PDC's response ring (atomic
/// results, kept until the initiator clears them, which it cannot do
/// while it waits for that answer): the answer is lost on the wire, the
/// initiator resends the message's last packet, and the duplicate gets
/// the error again. The send completes `TOO_LONG`, never `Ok`, and the
/// atomics each apply once.
#[test]
fn rendezvous_error_outlives_a_full_response_ring() {
    use crate::proto::wire::{self, pds::PdsHeader, ses::SesHeader};
    let mut net = net(2, fast_cfg(), Link::CLEAN, 107);
    let big = pattern(7, 1 << 20);
    // A receive shorter than the message: the send is answered TOO_LONG
    // once the part that fits has been read.
    recv(&mut net, 1, 1, 200_000, 1, None);
    send_to(&mut net, 1, Mode::Rud, None, big, 1);
    let mut bufs = Vec::new();
    for k in 0..8u64 {
        let op = AtomicOp::FetchAdd;
        let b = atomic(&mut net, 0, 1, 1, Mode::Rud, (MR_RW, 64), op, 1, 0, 100 + k);
        bufs.push(b.unwrap());
    }
    set_target_word(&mut net, 1, 1, MR_RW, 64, 0);
    // The first answer carrying TOO_LONG is lost.
    let lost = std::rc::Rc::new(core::cell::Cell::new(0u32));
    let seen = lost.clone();
    net.drop_if = Some(std::boxed::Box::new(move |src, _dst, pkt: &[u8]| {
        let Ok(p) = wire::parse(pkt) else {
            return false;
        };
        let too_long = matches!(
            (p.pds, p.ses),
            (PdsHeader::Ack(_), Some(SesHeader::Resp(r))) if r.rc == rc::TOO_LONG
        );
        let first = src == 1 && too_long && seen.get() == 0;
        if first {
            seen.set(1);
        }
        first
    }));
    assert!(net.run_until(20_000_000_000, |n| comps(n, 0).len() == 9));
    assert_eq!(
        lost.get(),
        1,
        "the answer was never lost: the test proves nothing"
    );
    let s = comps(&net, 0).iter().find(|c| c.user == 1).unwrap();
    assert_eq!(s.status, Status::Remote(rc::TOO_LONG));
    let r = comps(&net, 1).iter().find(|c| c.user == 1).unwrap();
    assert_eq!((r.status, r.len), (Status::Truncated, 200_000));
    let mut olds: Vec<u64> = bufs.iter().map(|&b| word(&net, 0, b, 0)).collect();
    olds.sort();
    assert_eq!(olds, (0..8).collect::<Vec<u64>>());
    assert_eq!(target_word(&net, 1, 1, MR_RW, 64), 8);
    // The answer really was kept outside the ring.
    assert_eq!(net.nodes[1].eng.stats.answers_held, 1);
    assert!(drained_after(&mut net));
}

/// The same with implied success, where every ACK carries the target's
/// oldest uncleared error: a rendezvous error kept outside a full ring is
/// that oldest one (later writes to a bad key filled the ring), so it
/// reaches the initiator instead of being displaced by the later errors,
/// which the initiator could not clear while it waits for it (the PDC
/// then failed). Every operation completes with its own error.
#[test]
fn rendezvous_error_outside_the_ring_is_the_oldest() {
    let cfg = Config {
        implied_ok: true,
        ..fast_cfg()
    };
    let mut net = net(2, cfg, Link::CLEAN, 109);
    recv(&mut net, 1, 1, 200_000, 1, None);
    send_to(&mut net, 1, Mode::Rud, None, pattern(8, 1 << 20), 1);
    for k in 0..8u64 {
        let op = Op::Write {
            key: 0x0bad,
            offset: 0,
        };
        post_hd(&mut net, 0, 1, 1, Mode::Rud, op, vec![1; 100], 10 + k, None).unwrap();
    }
    assert!(net.run_until(20_000_000_000, |n| comps(n, 0).len() == 9));
    let s = comps(&net, 0).iter().find(|c| c.user == 1).unwrap();
    assert_eq!(s.status, Status::Remote(rc::TOO_LONG));
    for k in 0..8u64 {
        let w = comps(&net, 0).iter().find(|c| c.user == 10 + k).unwrap();
        assert_eq!(w.status, Status::Remote(rc::BAD_MKEY), "write {k}");
    }
    assert!(net.nodes[1].eng.stats.answers_held > 0);
    assert!(drained_after(&mut net));
}

/// The READ that pulls the rest of a rendezvous send travels in the
/// traffic class of the endpoint that receives it (its job's class), not
/// class 0: the target's initiator PDC that carries it is of that class.
#[test]
fn rendezvous_read_keeps_the_traffic_class() {
    let mut net = net(2, fast_cfg(), Link::CLEAN, 108);
    net.nodes[1].env.tcs.insert(1, 5);
    let big = pattern(9, 300_000);
    let rb = recv(&mut net, 1, 1, big.len(), 1, None);
    send_to(&mut net, 1, Mode::Rud, None, big.clone(), 1);
    assert!(net.run_until(10_000_000_000, |n| comps(n, 0).len() == 1));
    assert_eq!(comps(&net, 0)[0].status, Status::Ok);
    assert!(net.nodes[1].env.bufs[rb as usize] == big);
    assert_eq!(net.nodes[1].eng.stats.rndv_reads, 1);
    // Node 1's only initiator PDC is the one its READ used.
    let tcs: Vec<u8> = net.nodes[1]
        .eng
        .pdcs()
        .iter()
        .filter(|d| {
            matches!(
                d.state(),
                PdcState::SynSent | PdcState::Established | PdcState::Closing
            )
        })
        .map(|d| d.traffic_class())
        .collect();
    assert_eq!(tcs, vec![5]);
    assert!(drained_after(&mut net));
}

/// Several rendezvous errors kept outside a full response ring on one
/// PDC, each answer lost once: every send still completes with its error;
/// the kept answers leave the PDC's chain as the initiator clears them (or
/// when the PDC closes) and every table drains.
#[test]
fn several_rendezvous_errors_outside_the_ring() {
    use crate::proto::wire::{self, pds::PdsHeader, ses::SesHeader};
    let mut net = net(2, fast_cfg(), Link::CLEAN, 110);
    for k in 0..3u64 {
        recv(&mut net, 1, 1, 100_000 + 1000 * k as usize, 1 + k, None);
        send_to(
            &mut net,
            1,
            Mode::Rud,
            None,
            pattern(20 + k, 1 << 20),
            1 + k,
        );
    }
    for k in 0..8u64 {
        let op = AtomicOp::FetchAdd;
        atomic(&mut net, 0, 1, 1, Mode::Rud, (MR_RW, 64), op, 1, 0, 100 + k).unwrap();
    }
    // The first answer of each message is lost.
    let lost = std::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
    let seen = lost.clone();
    net.drop_if = Some(std::boxed::Box::new(move |src, _dst, pkt: &[u8]| {
        let Ok(p) = wire::parse(pkt) else {
            return false;
        };
        let id = match (p.pds, p.ses) {
            (PdsHeader::Ack(_), Some(SesHeader::Resp(r))) if r.rc == rc::TOO_LONG => r.body,
            _ => return false,
        };
        let key = std::format!("{id:?}");
        let first = src == 1 && !seen.borrow().contains(&key);
        if first {
            seen.borrow_mut().push(key);
        }
        first
    }));
    assert!(net.run_until(20_000_000_000, |n| comps(n, 0).len() == 11));
    assert_eq!(lost.borrow().len(), 3, "{:?}", lost.borrow());
    for k in 0..3u64 {
        let s = comps(&net, 0).iter().find(|c| c.user == 1 + k).unwrap();
        assert_eq!(s.status, Status::Remote(rc::TOO_LONG), "send {k}");
    }
    assert_eq!(net.nodes[1].eng.stats.answers_held, 3);
    assert!(drained_after(&mut net));
}
