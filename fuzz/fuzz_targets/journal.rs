//! The undo journal, as `undo` validates it before writing anything. First byte even: the
//! rest is the journal file as is. Odd: the rest is a list of frames `kind u8, length u16 LE,
//! payload`, framed here with their true checks behind the magic (so that the fuzzer reaches
//! the checks past the frame checksum).
#![no_main]

use coldpatch::journal::{frame_bytes, read_bytes, MAGIC};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn framed(mut rest: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    while let Some((&kind, tail)) = rest.split_first() {
        let Some((len, tail)) = tail.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        out.extend_from_slice(&frame_bytes(kind, payload));
        rest = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let journal = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        framed(rest)
    };
    let _ = read_bytes(Path::new("fuzz.journal"), &journal);
});
