# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# uet_soft project entry point (not the kernel's Makefile: the build lays
# this repository over a pristine Linux tree; see README.md).
#
#   make [CLIPPY=1]           the kernel (default target; CLIPPY=1: lint Rust,
#                             warnings fail)
#   make demo                 boot a guest and run the UET demo
#   make check                run every test; ends with "N passed, N failed"
#   make check-debug          the debug lane alone (the end of make check;
#                             UET_DEBUG_LANE=0 make check skips it): data-path
#                             kselftests on the debug kernel, kmemleak scan
#   make kernel               fetch + patch + overlay + build Linux and uet_soft
#   make kernel-debug         the same with KASAN, KFENCE, lockdep, kmemleak,
#                             UBSAN, ... (guest-debug.config, clang), in
#                             $UET_CACHE/build/<linux>-debug (nice -n 19)
#   make rdma-core            build rdma-core 56.1 with libuet
#   make perftest             build perftest with the UET connection type
#   make initramfs            assemble the guest userspace
#   make vm SCRIPT=x [ARGS=]  boot a fresh guest and run x as root in it
#   make vm2 [SCRIPT=x] [ARGS=]
#                             boot two guests ("machines") joined by a wire
#                             on the host's loopback and run x in both
#                             (default: the two-machine test, guest-2host.sh)
#   make check-vm2            the two-machine test alone, counted as in check
#   make soak [SOAK_SECONDS=] the soak (uet_soak.sh, default 600 s): mixed
#                             traffic under 5% loss and reordering, then
#                             endpoints, PDCs, memory back to the baseline
#   make bench [BENCH_ARGS=]  uet against rxe, siw and TCP in a guest (tables,
#                             CSV and plots under $UET_CACHE/bench/latest)
#   make bench-engine [BENCH_ENGINE_ARGS=]
#                             protocol engine benchmarks (host), one
#                             "engine: name=value" line per figure; e.g.
#                             BENCH_ENGINE_ARGS="only rate,memory,events"
#   make fuzz [FUZZ_SECONDS=] run every fuzz target (host)
#
# Variables: UET_CACHE (default ~/.cache/ultraeth), CLIPPY=1, UET_ACCEL=kvm|tcg,
# UET_VM_TIMEOUT (seconds).

T := tools/ultraeth
export CLIPPY

.PHONY: all demo check toolchain fetch kernel rdma-core perftest initramfs vm vm2 check-vm2 guest \
	host-test bench bench-engine fuzz clean-cache help kernel-debug initramfs-debug check-debug soak

all: kernel

help:
	@sed -n '3,37s/^# \{0,1\}//p' Makefile

toolchain:
	@$(T)/toolchain.sh

fetch: toolchain
	@$(T)/fetch.sh

kernel: toolchain
	@$(T)/kernel.sh

kernel-debug: toolchain
	@UET_KVARIANT=debug nice -n 19 $(T)/kernel.sh

rdma-core: toolchain
	@$(T)/rdma-core.sh

perftest: rdma-core
	@$(T)/perftest.sh

tools-build: toolchain
	@$(T)/tools-build.sh

initramfs: kernel rdma-core perftest tools-build
	@$(T)/initramfs.sh

guest: initramfs

initramfs-debug: kernel-debug rdma-core perftest tools-build
	@UET_KVARIANT=debug $(T)/initramfs.sh

vm:
	@test -n "$(SCRIPT)" || { echo "usage: make vm SCRIPT=path/on/host [ARGS=...]" >&2; exit 2; }
	@$(MAKE) --no-print-directory guest
	@$(T)/vm.sh $(SCRIPT) $(ARGS)

vm2:
	@$(MAKE) --no-print-directory guest
	@$(T)/vm2.sh $(or $(SCRIPT),$(T)/guest-2host.sh) $(ARGS)

demo: guest
	@$(T)/vm.sh $(T)/demo.sh

check:
	@$(T)/check.sh

check-vm2:
	@$(T)/check.sh --vm2-only

check-debug:
	@$(T)/check.sh --debug-only

# The soak: one guest, uet_soak.sh for SOAK_SECONDS (tools/ultraeth/guest-soak.sh;
# Documentation/infiniband/ultraeth-hardening.rst, "Soak").
SOAK_SECONDS ?= 600
soak:
	@$(MAKE) --no-print-directory guest
	@UET_VM_TIMEOUT=$$(($(SOAK_SECONDS) + 900)) $(T)/vm.sh $(T)/guest-soak.sh $(SOAK_SECONDS)

host-test: toolchain
	@$(T)/check.sh --host-only

bench: guest
	@$(T)/bench.sh $(BENCH_ARGS)

bench-engine: toolchain
	@tools/uet-proto/bench.sh $(BENCH_ENGINE_ARGS)

fuzz: toolchain
	@UET_FUZZ_SEED=$${UET_FUZZ_SEED:-random} tools/uet-proto/run-fuzz.sh $(or $(FUZZ_SECONDS),600)

clean-cache:
	rm -rf $${UET_CACHE:-$$HOME/.cache/ultraeth}/build
