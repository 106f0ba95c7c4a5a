//! Support code shared by `mkimage` and the benchmark drivers.
//!
//! * [`mkimage`]: the content of a synthetic Exchange 5.5 image (product.md, "Lab images"):
//!   parameters, the image specification, the row streams, the key trees, the ground truth.
//! * [`writers`]: the one place that calls the ESE and hive builders.
//! * [`reg_bench`]: the registry import benchmark of `bench`.

pub mod mkimage;
pub mod reg_bench;
pub mod writers;
