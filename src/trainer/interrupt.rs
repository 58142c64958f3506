//! Ctrl-C: the flag a signal handler sets and the trainer reads after every
//! step.
//!
//! A signal handler can reach no object of the program, and a process has
//! one handler per signal, so the flag it sets is the one piece of global
//! state in descent: a static, set only by the handler and cleared only by
//! the trainer that acts on it. Everything else a run needs travels in the
//! `Trainer`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static CTRL_C_PRESSED: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the Ctrl-C (SIGINT, SIGTERM) handler once per process.
///
/// # Errors
/// The reason, if the program already installed a handler of its own.
pub(crate) fn install_handler() -> Result<(), String> {
    HANDLER
        .get_or_init(|| {
            ctrlc::set_handler(|| CTRL_C_PRESSED.store(true, Ordering::SeqCst))
                .map_err(|error| error.to_string())
        })
        .clone()
}

/// Whether Ctrl-C was pressed since the last call; reading clears it, so a
/// second run in the same process starts afresh.
pub(crate) fn take_ctrl_c() -> bool {
    CTRL_C_PRESSED.swap(false, Ordering::SeqCst)
}
