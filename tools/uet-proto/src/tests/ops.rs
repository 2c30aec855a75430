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
