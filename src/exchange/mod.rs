//! The Exchange 5.5 domain: the store model and the registry model held as data (the
//! profile), the GUID type the store and the registry share, and the name rules.
//!
//! Nothing here reads or writes file bytes: the profile names tables, columns, keys and values;
//! [`crate::ese`] and [`crate::regf`] find them in files.
//! Semantics: `../shared/spec/store-model.md` and `../shared/spec/registry-model.md`.

pub mod guid;
pub mod names;
pub mod profile;

pub use guid::Guid;
pub use profile::{Profile, StoreKind};
