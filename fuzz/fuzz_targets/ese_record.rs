//! One ESE record (a leaf node's data). The first byte picks the record form (ESE97, ESE98,
//! ESE98 on large pages); the rest is the record.
#![no_main]

mod common;

use coldpatch::bytes::Bytes;
use coldpatch::ese::record::{Record, RecordForm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let form = match form % 3 {
        0 => RecordForm::Ese97,
        1 => RecordForm::Ese98 { large_page: false },
        _ => RecordForm::Ese98 { large_page: true },
    };
    if let Ok(rec) = Record::parse(Bytes::new(rest, 0), form) {
        common::read_record(&rec, None);
    }
});
