//! Support code shared by `mkimage`, the benchmark drivers and `gen-man`.
//!
//! * [`mkimage`]: the content of a synthetic Exchange 5.5 image (product.md, "Lab images"):
//!   parameters, the image specification, the row streams, the key trees, the ground truth.
//! * [`writers`]: the one place that calls the ESE and hive builders.
//! * [`bench_image`]: the benchmark image `bench` and `faults` build (calibrated size).
//! * [`reg_bench`]: the registry import benchmark of `bench`.
//! * [`sweep`]: the corruption sweeps (mutants of every sample and fixture through the verbs).
//! * [`faults`]: crash consistency of `apply --in-place` and `undo` (the `faults` driver and
//!   its tests).
//! * [`man`]: the man pages of `coldpatch`, rendered from its clap definitions (`gen-man`).

pub mod bench_image;
pub mod faults;
pub mod man;
pub mod mkimage;
pub mod reg_bench;
pub mod sweep;
pub mod writers;
