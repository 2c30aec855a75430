#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#
# Builds and runs the UET engine benchmarks (release build) and prints one
# `name: value` line per figure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec cargo run --quiet --release --manifest-path "$here/../Cargo.toml" -p uet-proto --bin uet-bench
