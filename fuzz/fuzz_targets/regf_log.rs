//! Transaction-log replay of a dirty hive. Input: a u32 LE length, that many bytes of primary
//! hive, then the log (old-format `DIRT` or new-format `HvLE`); the replayed hive is verified.
#![no_main]

use coldpatch::regf::log::{replay, LogInput};
use coldpatch::regf::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (primary, log) = rest.split_at(len);
    let logs = [LogInput {
        name: "HIVE.LOG1".into(),
        bytes: log,
    }];
    if let Ok(r) = replay(primary, &logs) {
        let _ = verify(&r.data);
    }
});
