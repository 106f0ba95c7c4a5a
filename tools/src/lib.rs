//! Support code shared by `mkimage` and the benchmark drivers.
