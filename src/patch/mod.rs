//! The store patch: discover → plan → apply (out-dir, or in place behind a journal) → undo.
//!
//! * [`discover`]: the image's hives, cluster, checkpoints and databases, and every refusal
//!   condition (`problems`), before anything is written.
//! * [`plan`]: the new GUIDs, the target name, the registry edits, the rows to rewrite, the
//!   inputs' hashes; saved as `PLAN.json` by `plan --out`.
//! * [`stream`]: the one streaming pass over a database (verify, patch, hash, write).
//! * [`census`]: where else the old base GUID lives, and which of those places the patch
//!   does not cover.
//! * [`hives`]: the registry edits.
//! * [`apply`]: `apply --out DIR` and its manifests; [`inplace`]: `apply --in-place`.
//! * [`inspect`]: the report `inspect IMAGE` prints.

pub mod apply;
pub mod census;
pub mod discover;
pub mod hives;
pub mod inplace;
pub mod inspect;
pub mod pause;
pub mod plan;
pub mod stream;
pub mod time;
