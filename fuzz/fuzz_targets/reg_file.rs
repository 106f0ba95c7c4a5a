//! A `.reg` file, as `reg import` reads it: decode (UTF-16 or ANSI), parse, check the key
//! paths, then apply the operations to a small real hive and verify the result.
#![no_main]

use coldpatch::regf::edit::Editor;
use coldpatch::regf::import::reg_file_ops;
use coldpatch::regf::ops::apply_ops;
use coldpatch::regf::verify;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// A small hive written by Windows (`$$$PROTO.HIV`, a root key only).
const HIVE: &[u8] = include_bytes!("../../../shared/samples/regf/minimal");
const PREFIX: &str = "HKEY_LOCAL_MACHINE\\SOFTWARE";

fuzz_target!(|data: &[u8]| {
    let Ok(ops) = reg_file_ops(data, Path::new("fuzz.reg"), PREFIX) else {
        return;
    };
    let Ok(mut ed) = Editor::open(HIVE.to_vec(), 0) else {
        return;
    };
    if apply_ops(&mut ed, &ops, PREFIX).is_ok() {
        let out = ed.finish();
        assert!(
            verify(&out).ok(),
            "a hive edited by a .reg file does not verify"
        );
    }
});
