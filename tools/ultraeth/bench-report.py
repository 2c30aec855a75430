#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""make bench's report: reads DIR/raw.csv (lines of guest-bench.sh) and
DIR/lat.csv (per-iteration latencies), writes DIR/results.md and the PNG
plots, prints the Markdown tables and one "bench: NAME=VALUE" line per
target figure. Exits 1 if a transport could not run on a clean wire."""

import csv
import os
import statistics
import sys
from collections import defaultdict

TRANSPORTS = ("uet", "rxe", "siw")
SIZE_NAMES = {8: "8b", 4096: "4k", 65536: "64k", 1048576: "1m"}


def size_name(n):
    return SIZE_NAMES.get(n, str(n))


def load(path):
    runs = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) != 10 or row[0] != "BENCH":
                continue
            _, mtu, loss, tr, test, size, rep, st, val, p99 = row
            key = (int(mtu), float(loss), tr, test, int(size))
            runs[key].append((st, float(val or 0), float(p99 or 0)))
    return runs


class Fig:
    """Mean and range of the runs that finished, and how many did not."""

    def __init__(self, reps, idx=1):
        ok = [r[idx] for r in reps if r[0] == "ok"]
        self.n = len(reps)
        self.bad = [r[0] for r in reps if r[0] != "ok"]
        self.mean = statistics.mean(ok) if ok else None
        self.lo = min(ok) if ok else None
        self.hi = max(ok) if ok else None

    def text(self, unit=""):
        if self.mean is None:
            return "-" if not self.bad else "/".join(sorted(set(self.bad)))
        s = fmt(self.mean) + unit
        if self.hi is not None and self.hi != self.lo:
            s += f" ({fmt(self.lo)}-{fmt(self.hi)})"
        if self.bad:
            s += f" [{len(self.bad)}/{self.n} {self.bad[0]}]"
        return s


def fmt(x):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    d = sys.argv[1]
    runs = load(os.path.join(d, "raw.csv"))
    if not runs:
        print("bench: no results in raw.csv", file=sys.stderr)
        return 1
    fig = lambda k, idx=1: Fig(runs[k], idx) if k in runs else None
    mtus = sorted({k[0] for k in runs if k[2] != "memcpy"})
    losses = sorted({k[1] for k in runs if k[2] != "memcpy"})
    tests = [t for t in ("write_bw", "read_bw", "send_bw", "send_lat")
             if any(k[3] == t for k in runs)]
    sizes = sorted({k[4] for k in runs if k[2] in TRANSPORTS})
    out = []
    mc = fig((0, 0.0, "memcpy", "memcpy", 64 << 20))
    if mc and mc.mean:
        out.append(f"Guest memcpy rate: {mc.text(' MiB/s')}.\n")
    failed = []
    for mtu in mtus:
        for loss in losses:
            # Runs merged from several grids leave some points unmeasured.
            if not any(k[0] == mtu and k[1] == loss for k in runs):
                continue
            out.append(f"\n### MTU {mtu}, loss {loss:g}%\n")
            out.append("Bandwidth in MiB/s, latency in us (typical; p99); "
                       "mean of the runs (range).\n")
            tcp = fig((mtu, loss, "tcp", "stream_bw", 131072))
            hdr = "| test | bytes | uet | rxe | siw | uet/rxe | uet/siw | uet/TCP |"
            out.append(hdr)
            out.append("|" + "---|" * (hdr.count("|") - 1))
            for test in tests:
                for size in sizes:
                    f = {t: fig((mtu, loss, t, test, size)) for t in TRANSPORTS}
                    if not any(f.values()):
                        continue
                    for t, v in f.items():
                        if v and loss == 0 and v.bad:
                            failed.append(f"{t} {test} {size} B at MTU {mtu}: "
                                          + ",".join(v.bad))
                    lat = test.endswith("_lat")
                    cells = []
                    for t in TRANSPORTS:
                        v = f[t]
                        if v is None:
                            cells.append("-")
                        elif lat:
                            p = fig((mtu, loss, t, test, size), 2)
                            cells.append(f"{v.text()}; {fmt(p.mean)}")
                        else:
                            cells.append(v.text())
                    m = {t: (f[t].mean if f[t] else None) for t in TRANSPORTS}
                    # uet's figure over the other's: for latency (lower is
                    # better) below 1 is better.
                    r_rxe = ratio(m["uet"], m["rxe"])
                    r_siw = ratio(m["uet"], m["siw"])
                    r_tcp = None if lat else ratio(m["uet"], tcp.mean if tcp else None)
                    out.append(f"| {test} | {size} | " + " | ".join(cells) +
                               f" | {fmt(r_rxe)} | {fmt(r_siw)} | {fmt(r_tcp)} |")
            if tcp:
                out.append(f"\nKernel TCP (iperf3, one stream): {tcp.text(' MiB/s')}.\n")
                if loss == 0 and tcp.bad:
                    failed.append(f"tcp at MTU {mtu}: " + ",".join(tcp.bad))
    md = "\n".join(out) + "\n"
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(md)
    print(md)

    # Target lines (MTU 1500 when measured, else the first MTU).
    mtu0 = 1500 if 1500 in mtus else (mtus[0] if mtus else 0)
    def mean(t, test, size, loss=0.0, idx=1):
        """Mean of a cell whose every run finished; None (n/a) otherwise:
        a figure from the lucky runs only would overstate it."""
        k = (mtu0, loss, t, test, size)
        if k not in runs:
            return None
        f = fig(k, idx)
        return None if f.bad else f.mean
    tcp0 = mean("tcp", "stream_bw", 131072)
    lines = []
    for size in (65536, 1048576):
        u = mean("uet", "write_bw", size)
        lines.append((f"write_bw_{size_name(size)}_uet_over_rxe", ratio(u, mean("rxe", "write_bw", size))))
        lines.append((f"write_bw_{size_name(size)}_uet_over_tcp", ratio(u, tcp0)))
    lines.append(("send_lat_8b_uet_over_siw", ratio(mean("uet", "send_lat", 8), mean("siw", "send_lat", 8))))
    lines.append(("send_lat_p99_8b_uet_over_siw",
                  ratio(mean("uet", "send_lat", 8, idx=2), mean("siw", "send_lat", 8, idx=2))))
    for t in TRANSPORTS:
        for loss, name in ((1.0, "1pct"), (5.0, "5pct")):
            lines.append((f"goodput_{name}_loss_over_lossless_{t}",
                          ratio(mean(t, "write_bw", 65536, loss), mean(t, "write_bw", 65536))))
    for name, v in lines:
        print(f"bench: {name}={'n/a' if v is None else f'{v:.3f}'}")

    plots(d, runs, mtus, losses, sizes)
    if failed:
        print("bench: could not run on a clean wire: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def plots(d, runs, mtus, losses, sizes):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib missing: no plots", file=sys.stderr)
        return
    mtu0 = 1500 if 1500 in mtus else (mtus[0] if mtus else 0)
    fig_mean = lambda k: Fig(runs[k]).mean if k in runs else None
    made = []
    # Bandwidth against message size, clean wire.
    for test in ("write_bw", "read_bw", "send_bw"):
        fig, ax = plt.subplots(figsize=(6, 4))
        any_line = False
        for t in TRANSPORTS:
            xs = [s for s in sizes if fig_mean((mtu0, 0.0, t, test, s)) is not None]
            if xs:
                ax.plot(xs, [fig_mean((mtu0, 0.0, t, test, s)) for s in xs], marker="o", label=t)
                any_line = True
        tcp = fig_mean((mtu0, 0.0, "tcp", "stream_bw", 131072))
        if tcp:
            ax.axhline(tcp, linestyle="--", color="grey", label="kernel TCP")
        if any_line:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("message size (bytes)")
            ax.set_ylabel("MiB/s")
            ax.set_title(f"{test}, MTU {mtu0}, no loss")
            ax.legend()
            p = os.path.join(d, f"{test}_vs_size.png")
            fig.savefig(p, dpi=100, bbox_inches="tight")
            made.append(p)
        plt.close(fig)
    # Bandwidth against loss (64 KiB writes).
    fig, ax = plt.subplots(figsize=(6, 4))
    any_line = False
    for t in TRANSPORTS + ("tcp",):
        test, size = ("stream_bw", 131072) if t == "tcp" else ("write_bw", 65536)
        xs = [l for l in losses if fig_mean((mtu0, l, t, test, size)) is not None]
        if xs:
            ax.plot(xs, [fig_mean((mtu0, l, t, test, size)) for l in xs], marker="o",
                    label="kernel TCP" if t == "tcp" else t)
            any_line = True
    if any_line:
        ax.set_xlabel("netem loss on each end (%)")
        ax.set_ylabel("MiB/s")
        ax.set_title(f"64 KiB RDMA writes (TCP: stream) against loss, MTU {mtu0}")
        ax.legend()
        p = os.path.join(d, "bw_vs_loss.png")
        fig.savefig(p, dpi=100, bbox_inches="tight")
        made.append(p)
    plt.close(fig)
    # Latency CDF of 8-byte sends (per-iteration figures).
    lat = defaultdict(list)
    lp = os.path.join(d, "lat.csv")
    if os.path.exists(lp):
        with open(lp, newline="") as f:
            for row in csv.reader(f):
                if len(row) == 4 and row[0] == "LAT":
                    lat[row[1]].append(float(row[3]))
    if lat:
        fig, ax = plt.subplots(figsize=(6, 4))
        for t in TRANSPORTS:
            v = sorted(lat.get(t, []))
            if v:
                ax.plot(v, [(i + 1) / len(v) for i in range(len(v))], label=t)
        ax.set_xscale("log")
        ax.set_xlabel("8-byte send latency (us)")
        ax.set_ylabel("fraction of iterations")
        ax.set_title(f"ib_send_lat -s 8, MTU {mtu0}, no loss")
        ax.legend()
        p = os.path.join(d, "send_lat_cdf.png")
        fig.savefig(p, dpi=100, bbox_inches="tight")
        made.append(p)
        plt.close(fig)
    for p in made:
        print(f"bench: plot {p}")


if __name__ == "__main__":
    sys.exit(main())
