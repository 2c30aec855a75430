// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! An initiator restarted on the same address (a device deleted and
//! added back) whose new PDC's SPDCID is one its peer still holds: the
//! kernel's `uet_fault_cycles.sh` met it about once in 75-100 cycles.

use super::*;
use crate::proto::engine::Engine;
use crate::sim::tables_pooled;

/// The kernel's engine configuration (`Config::SOFTWARE`, 1368-byte
/// payload, 64 KiB eager limit).
fn kernel_cfg() -> Config {
    Config {
        mtu: 1368,
        eager_limit: 64 << 10,
        max_msg: 64 << 20,
        ..Config::SOFTWARE
    }
}

/// A kernel-sized engine (1024 PDCs) for node `cfg`.
pub(super) fn kernel_engine(cfg: Config) -> crate::sim::SimEngine {
    Engine::new(cfg, tables_pooled(1024, 4096, 4096, 256)).unwrap()
}

/// Two kernel-like nodes on a wire like two emulated guests.
fn kernel_net(seed: u64) -> Net {
    let link = Link {
        delay: 150_000,
        bandwidth: 1_000_000_000,
        ..Link::CLEAN
    };
    let mut net = net(2, kernel_cfg(), link, seed);
    for n in net.nodes.iter_mut() {
        let c = *n.eng.config();
        *n.eng = kernel_engine(c);
    }
    net
}

/// Node 0 sends a 1 MiB message to node 1; with `kill`, its engine is
/// dropped mid-transfer (node 1 keeps the PDC open, half received),
/// else once the message completed and the PDC closed (a tombstone).
/// A new engine for node 0 whose first PDC slot is the old PDC's then
/// sends to node 1 within node 1's reap time: it must get through.
fn restart_on_the_same_id(kill: bool) -> Net {
    let mut net = kernel_net(44);
    net.capture = Some(Vec::new());
    let ra = recv(&mut net, 1, 1, 1 << 20, 10, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(1, 1 << 20),
        1,
    )
    .unwrap();
    if kill {
        let t = net.now + 3_000_000;
        net.run_until(t, |_| false);
        assert!(comps(&net, 0).is_empty(), "still sending");
    } else {
        assert!(net.run_until(net.now + 1_000_000_000, |n| comps(n, 0).len() == 1));
        // Idle until the PDC closes.
        let t = net.now + 2_000_000_000;
        net.run_until(t, |n| n.nodes[1].eng.usage().0 == 0);
        assert_eq!(net.nodes[1].eng.usage().0, 0);
    }
    let old = net.nodes[0]
        .eng
        .pdcs()
        .iter()
        .position(|p| p.state() != PdcState::Free)
        .or(Some(net.nodes[0].eng.first_pdc_slot()))
        .unwrap();
    // A seed whose first slot is the old PDC's (1 in 1024 in the kernel's
    // random draw, per PDC its peer holds).
    let cfg = *net.nodes[0].eng.config();
    let mut seed = cfg.seed;
    let eng = loop {
        seed = seed.wrapping_add(1);
        let e = kernel_engine(Config { seed, ..cfg });
        if e.first_pdc_slot() == old {
            break e;
        }
    };
    *net.nodes[0].eng = eng;
    // Node 1 holds the old PDC open (killed) or not at all (closed).
    let held = net.nodes[1]
        .eng
        .pdcs()
        .iter()
        .any(|p| p.state() == PdcState::Open);
    assert_eq!(held, kill);
    let n0 = comps(&net, 0).len();
    let rb = recv(&mut net, 1, 1, 4096, 11, None);
    send(
        &mut net,
        0,
        1,
        1,
        Mode::Rud,
        Op::Send { tag: None },
        pattern(2, 4096),
        2,
    )
    .unwrap();
    assert!(net.run_until(net.now + 20_000_000_000, |n| comps(n, 0).len() > n0));
    assert_eq!(comps(&net, 0)[n0].status, Status::Ok);
    // The message lands in the first receive free: the killed message's
    // receive, given back when its PDC ended, else the new one.
    let c1 = comps(&net, 1);
    let c = c1.last().unwrap();
    assert_eq!(
        (c.status, c.len, c.hdr_data),
        (Status::Ok, 4096, 2),
        "{c1:?}"
    );
    assert_eq!(c1.len(), usize::from(!kill) + 1, "{c1:?}");
    let b = if c.user == 10 { ra } else { rb };
    assert!(net.nodes[1].env.bufs[b as usize][..4096] == pattern(2, 4096)[..]);
    net
}

/// The target still holds the killed PDC open (it reaps it after
/// `reap_after`, 7.5 s): the new incarnation's SYNs, under the same
/// SPDCID with another start PSN, were dropped as stale for the whole
/// retry span and its first message failed.
#[test]
fn a_restarted_initiator_on_an_open_pdcs_id_gets_through() {
    let net = restart_on_the_same_id(true);
    // The old PDC gave way to the new one at once.
    assert_eq!(net.nodes[1].eng.stats.pdc_replaced, 1);
    assert!(net.now < 1_000_000_000, "took {} ns", net.now);
}

/// A tombstone is keyed by the start PSN as well: a new incarnation
/// under a closed PDC's id is not taken for it.
#[test]
fn a_restarted_initiator_on_a_tombstoned_id_gets_through() {
    let net = restart_on_the_same_id(false);
    assert_eq!(net.nodes[1].eng.stats.stale_syn, 0);
}

/// Exactly once across the replacement: every packet both incarnations
/// sent, replayed in random order while the new PDC is open (its
/// initiator alive and established: the offers the old SYNs draw are
/// ignored) and again after it closed, completes no receive a second
/// time and ends no PDC again.
#[test]
fn replays_of_both_incarnations_deliver_nothing_twice() {
    let mut net = restart_on_the_same_id(true);
    let pkts = net.capture.take().unwrap();
    let recvs = recv_count(&net, 1);
    let sends = comps(&net, 0).len();
    spare_recvs(&mut net, 8);
    for round in 0..2 {
        let open = net.nodes[1]
            .eng
            .pdcs()
            .iter()
            .any(|p| p.state() == PdcState::Open);
        assert_eq!(open, round == 0, "round {round}");
        replay_all(&mut net, &pkts, 7 + round);
        assert_eq!(recv_count(&net, 1), recvs, "round {round}");
        assert_eq!(net.nodes[1].eng.stats.pdc_replaced, 1, "round {round}");
        assert_eq!(comps(&net, 0).len(), sends, "round {round}");
        // Then wait until both PDCs closed and replay again.
        let t = net.now + 3_000_000_000;
        net.run_until(t, |n| {
            n.nodes[0].eng.usage().0 == 0 && n.nodes[1].eng.usage().0 == 0
        });
    }
}
