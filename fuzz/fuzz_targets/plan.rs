//! The plan file (`plan --out`, read by `apply --plan`): parse it as `apply` does, and write
//! it back out.
#![no_main]

use coldpatch::patch::plan::Plan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = serde_json::from_slice::<Plan>(data) {
        let json = serde_json::to_vec(&plan).expect("a parsed plan serialises");
        let again: Plan = serde_json::from_slice(&json).expect("a written plan re-parses");
        assert_eq!(again, plan, "a plan changes in a write and read");
        for store in &plan.stores {
            let _ = plan.edits_of(&store.path);
        }
        let _ = plan.guids();
    }
});
