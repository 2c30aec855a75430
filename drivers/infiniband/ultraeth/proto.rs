// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB

//! UET protocol engine: PDS and SES as pure, sans-I/O state machines.
//!
//! The engine depends on `core` and `zerocopy` only. Time is an input,
//! packets, completions and timer deadlines are outputs, and every table
//! has a fixed capacity chosen by the caller, so nothing allocates on the
//! packet path. The same files are compiled into the `uet_soft` module and
//! into the host crate `tools/uet-proto` (tests, simulator, fuzzing,
//! benchmarks). See `Documentation/infiniband/ultraeth-engine.rst`.
//!
//! Child modules carry explicit `#[path]` attributes so that they resolve
//! to `proto/*.rs` both here (a non-`mod.rs` file) and in the host crate,
//! which loads this file through `#[path]` (and so treats it like a
//! `mod.rs` file).

#[path = "proto/engine.rs"]
pub(crate) mod engine;
#[path = "proto/pds.rs"]
pub(crate) mod pds;
#[path = "proto/ses.rs"]
pub(crate) mod ses;
#[path = "proto/wire.rs"]
pub(crate) mod wire;
