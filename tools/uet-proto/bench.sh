#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Builds and runs the UET engine benchmarks (release build) and prints one
# `engine: name=value` line per figure. Arguments go to uet-bench, e.g.
# `only rate,memory,events` for the per-core rates, memory per PDC and
# event cost alone (a few seconds; everything takes a minute or two).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec cargo run --quiet --release --manifest-path "$here/../Cargo.toml" -p uet-proto --bin uet-bench -- "$@"
