// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! WRITEs one way and READs the other at once, 32 of each in flight, on
//! the guest-like wire at 20% loss: the kselftest `rma.many` under
//! `tc netem loss 20%` (`uet_rma_loss.sh`), whose one failure in CI was a
//! neighbour entry lost to ARP probes, not the engine (`Env::reachable`).
//! Every operation must complete `Ok`.

use super::restart::kernel_engine;
use super::slow::{kernel_cfg, tcg};
use super::*;

/// `total` 3000-byte WRITEs from node 0 and READs from node 1, each side
/// at most 32 ahead of the other's completions (as the kselftest posts
/// them), with the kernel's table sizes. `Err` names the first failure.
fn writes_and_reads(seed: u64, loss: f64, total: usize) -> Result<(), std::string::String> {
    let mut net = net(2, kernel_cfg(), tcg(loss), seed);
    for n in net.nodes.iter_mut() {
        let c = *n.eng.config();
        *n.eng = kernel_engine(c);
    }
    let len = 3000;
    let read = Op::Read {
        key: MR_RO,
        offset: 0,
    };
    let (mut k, mut done_a, mut done_b) = (0, 0, 0);
    let limit = net.now + 600_000_000_000;
    while done_a < total || done_b < total {
        while k < total && k - done_a < 32 && k - done_b < 32 {
            let user = k as u64;
            send(
                &mut net,
                0,
                1,
                1,
                Mode::Rud,
                write_op(),
                vec![k as u8; len],
                user,
            )
            .map_err(|e| std::format!("write {k} not posted: {e:?}"))?;
            send(&mut net, 1, 0, 1, Mode::Rud, read, vec![0; len], user)
                .map_err(|e| std::format!("read {k} not posted: {e:?}"))?;
            k += 1;
        }
        let (a, b) = (done_a, done_b);
        net.run_until(limit, |n| comps(n, 0).len() > a || comps(n, 1).len() > b);
        if net.now >= limit {
            return Err(std::format!("stuck at {done_a} writes, {done_b} reads"));
        }
        for (node, what) in [(0, "write"), (1, "read")] {
            let from = if node == 0 { done_a } else { done_b };
            if let Some(c) = comps(&net, node)[from..]
                .iter()
                .find(|c| c.status != Status::Ok)
            {
                let st = net.nodes[node].eng.stats;
                return Err(std::format!("{what} {}: {:?}; {st:?}", c.user, c.status));
            }
        }
        done_a = comps(&net, 0).len();
        done_b = comps(&net, 1).len();
    }
    Ok(())
}

/// Four seeds by default; `UET_BIDIR_SEEDS=N` runs N (400 passed).
#[test]
fn writes_and_reads_both_ways_at_20_pct_loss() {
    let seeds: u64 = std::env::var("UET_BIDIR_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let bad: std::vec::Vec<_> = (1..=seeds)
        .filter_map(|seed| writes_and_reads(seed, 0.2, 2000).err().map(|e| (seed, e)))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}
