//! Durable writes on blocking threads (state, journal, events, sink files), counted, so a
//! run that stops — an error that ends it, or a panic — first waits until every write it
//! started has landed or failed ([`wait_idle`]). Only then is its lock released: a write
//! never lands after the next run has begun, just as a killed process writes nothing more.

use std::sync::{Condvar, Mutex};

static IN_FLIGHT: Mutex<usize> = Mutex::new(0);
static IDLE: Condvar = Condvar::new();

/// Runs `write` on a blocking thread and waits for it (without blocking the caller's
/// task). If the waiting future is dropped, the write still runs to its end, and
/// [`wait_idle`] waits for it.
pub async fn write<T: Send + 'static>(
    write: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    *count() += 1;
    let job = move || {
        let done = write();
        let mut n = count();
        *n = n.saturating_sub(1);
        IDLE.notify_all();
        done
    };
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| format!("the write stopped: {e}"))
}

/// Blocks until no write started by [`write`] is still running.
pub fn wait_idle() {
    let mut n = count();
    while *n > 0 {
        n = IDLE.wait(n).unwrap_or_else(|e| e.into_inner());
    }
}

fn count() -> std::sync::MutexGuard<'static, usize> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_write_whose_waiter_was_dropped_is_waited_for() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let landed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&landed);
        rt.block_on(async {
            let pending = write(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                flag.store(true, Ordering::SeqCst);
            });
            // Polled once (the write starts), then dropped, as a stopped run drops it.
            let _ = futures::FutureExt::now_or_never(pending);
        });
        wait_idle();
        assert!(
            landed.load(Ordering::SeqCst),
            "waited for the write to land"
        );
    }
}
