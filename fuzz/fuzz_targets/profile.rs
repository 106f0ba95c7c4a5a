//! The profile (the Exchange 5.5 store and registry model) in its JSON form: parse it, use
//! it as the passes do, write it back out.
#![no_main]

use coldpatch::exchange::{Profile, StoreKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<Profile>(data) {
        for kind in [StoreKind::Priv, StoreKind::Pub] {
            for t in p.tables_for(kind) {
                let _ = p.table(&t.name);
            }
            let _ = p.system.store_params(kind);
        }
        let _ = p.system.control_set_name(1);
        let json = serde_json::to_vec(&p).expect("a parsed profile serialises");
        let again: Profile = serde_json::from_slice(&json).expect("a written profile re-parses");
        assert_eq!(again, p, "a profile changes in a write and read");
    }
});
