//! ESE ("JET Blue") databases: header, checksums, pages, nodes, records, catalog, B-trees;
//! read, verify, edit and build. Format facts: `../shared/reference/ese.md`.

pub mod btree;
pub mod catalog;
pub mod census;
pub mod checksum;
pub mod edit;
pub mod error;
pub mod header;
pub mod longvalue;
pub mod node;
pub mod page;
pub mod patch;
pub mod record;
pub mod space;
pub mod verify;
pub mod write;

/// The ESE samples beside the checkout (`../shared/samples/ese`), for the tests.
#[cfg(test)]
pub(crate) mod samples {
    /// The sample `name`, gunzipped.
    pub fn gunzipped(name: &str) -> Vec<u8> {
        use std::io::Read;
        let path = format!(
            "{}/../shared/samples/ese/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let gz = std::fs::read(&path).expect("ESE sample beside the checkout");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .expect("gzip sample");
        out
    }
}
