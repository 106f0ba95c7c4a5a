//! Test hooks that stop an `apply` at a named point, so that the tests can do something to it
//! there (kill it, change an input) that no timing could place reliably.
//!
//! * `COLDPATCH_TEST_PAUSE_AT=POINT` (in place: `sealed`, `range:N`, `written`) stops the run
//!   there for good, after printing `coldpatch: paused at POINT` on stderr; the crash tests
//!   kill it with SIGKILL.
//! * `COLDPATCH_TEST_WAIT_AT=POINT` (`passed`: every input read and every change recorded,
//!   nothing yet put in place or sealed; both modes) prints `coldpatch: waiting at POINT` and
//!   goes on once a line arrives on stdin (or stdin ends).

use std::io::BufRead;

/// The variable of [`pause_here`].
pub const PAUSE_VAR: &str = "COLDPATCH_TEST_PAUSE_AT";
/// The variable of [`wait_here`].
pub const WAIT_VAR: &str = "COLDPATCH_TEST_WAIT_AT";

/// The point [`PAUSE_VAR`] names, read once (a run asks after every range it writes).
fn pause_point() -> Option<&'static str> {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    POINT
        .get_or_init(|| std::env::var(PAUSE_VAR).ok())
        .as_deref()
}

/// Stops the run for good at `point` when [`PAUSE_VAR`] names it.
pub fn pause_here(point: &str) {
    if pause_point() == Some(point) {
        eprintln!("coldpatch: paused at {point}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// [`pause_here`] at `range:N`, after the `n`th range written (no name is made for the
/// ranges of a run that was not asked to stop).
pub fn pause_at_range(n: u64) {
    let asked = pause_point()
        .and_then(|p| p.strip_prefix("range:"))
        .and_then(|k| k.parse::<u64>().ok());
    if asked == Some(n) {
        pause_here(&format!("range:{n}"));
    }
}

/// Waits at `point` for a line on stdin when [`WAIT_VAR`] names it.
pub fn wait_here(point: &str) {
    if std::env::var(WAIT_VAR).ok().as_deref() == Some(point) {
        eprintln!("coldpatch: waiting at {point}");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
}
