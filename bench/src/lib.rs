//! # tether-bench
//!
//! Benchmarks for tether against the shared BenchApi contract (`shared/bench/README.md`), the
//! same contract the reference Node server (capnweb) implements, so both can be measured with
//! the same drivers and compared side by side.
//!
//! | binary | what |
//! | --- | --- |
//! | `tether-bench-server` | the BenchApi server on tether, typed API by default, `--api=dynamic` for the hand-written baseline (`interop/serve-bench PORT` builds and runs it) |
//! | `tether-bench-driver` | the workloads of the shared Node driver, written against tether's client, plus `soak`, `churn` and `allocs` |
//! | `tether-raw-echo` | a plain WebSocket echo server (no RPC): the transport's limit |
//! | `tether-stream-driver` | the stream benchmark's client: 100 MiB downloads and uploads and echo latency beside an upload, against a TestTarget server (`bench/streams.sh`) |
//! | `tether-bench-report` | turns the JSON lines of a run into `BENCHMARKS.md` |
//!
//! `bench/run.sh` runs all of it pinned (servers on CPU 0, clients on CPU 1) and writes the
//! report; `bench/soak.sh` runs the long ones (`soak`, `churn`) against capnweb's server and
//! tether's, and `allocs` against tether's, and writes the report again with them. The library holds what the binaries share: the counting allocator ([`alloc`]), the
//! BenchApi servers, typed and dynamic ([`api`]), `/proc` readings ([`procfs`]), the workloads
//! ([`driver`]) and the report ([`report`]).

pub mod alloc;
pub mod api;
pub mod driver;
pub mod procfs;
pub mod report;
pub mod streams;
