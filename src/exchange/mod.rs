//! The Exchange 5.5 domain: the store model and the registry model held as data (the
//! profile), the GUID type the store and the registry share, and the name rules; the models
//! read from files ([`registry`], [`store`]).
//!
//! Nothing here indexes into file bytes: the profile names tables, columns, keys and values;
//! [`crate::ese`] and [`crate::regf`] find them in files.
//! Semantics: `../shared/spec/store-model.md` and `../shared/spec/registry-model.md`.

pub mod guid;
pub mod names;
pub mod profile;
pub mod registry;
pub mod store;

pub use guid::Guid;
pub use profile::{Profile, StoreKind};
