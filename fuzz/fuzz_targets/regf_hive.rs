//! A registry hive, as `verify` and `reg` read it: verify it, read every key and value from
//! the root, look a path up, and open it for editing.
#![no_main]

use coldpatch::regf::edit::Editor;
use coldpatch::regf::hive::HiveRef;
use coldpatch::regf::tree::read_hive;
use coldpatch::regf::verify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = verify(data);
    let _ = read_hive(data);
    if let Ok(h) = HiveRef::new(data) {
        if let Ok(root) = h.root_key() {
            let _ = h.values(&root);
            let _ = h.class_bytes(&root);
        }
        let _ = h.key_by_path("ControlSet001\\Services\\MSExchangeIS\\ParametersSystem");
    }
    // Editing starts only from a hive that verifies (what `reg import` insists on).
    if report.ok() {
        let _ = Editor::open(data.to_vec(), 0);
    }
});
