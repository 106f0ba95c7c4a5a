//! The ESE database header (page 0 and its shadow copy): parse both copies, describe the
//! header as `inspect` does.
#![no_main]

use coldpatch::ese::header::HeaderCopies;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(copies) = HeaderCopies::read(data) {
        let _ = copies.header.describe();
        let _ = copies.header.is_shadowed();
        let _ = copies.primary_checksum.is_good();
    }
});
