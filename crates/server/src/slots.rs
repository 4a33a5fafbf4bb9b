//! The `--max-connections` cap of the concurrent blocking modes: the acceptor takes a slot
//! before it calls accept, so extra peers wait in the kernel's backlog; a finished worker
//! gives its slot back. The same count tells the shutdown sequence when every worker is done.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::shutdown::{Ready, Shutdown, Wakeup, poll_readable};

/// A counting semaphore whose waits also end on shutdown or at a deadline.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    active: Mutex<usize>,
    /// Notified whenever a slot is released.
    freed: Wakeup,
}

/// One taken slot, released when dropped (also when a worker panics).
#[derive(Debug)]
pub(crate) struct Permit {
    slots: Arc<Slots>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut active = self.slots.lock();
        *active = active.saturating_sub(1);
        drop(active);
        self.slots.freed.notify();
    }
}

impl Slots {
    pub(crate) fn new(max: usize) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            max: max.max(1),
            active: Mutex::new(0),
            freed: Wakeup::new()?,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        // The count stays consistent even if a holder panicked: every update is one store.
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot, waiting while all are in use; `None` when the server is stopping.
    pub(crate) fn acquire(self: &Arc<Self>, shutdown: &Shutdown) -> io::Result<Option<Permit>> {
        loop {
            if shutdown.is_triggered() {
                return Ok(None);
            }
            {
                let mut active = self.lock();
                if *active < self.max {
                    *active += 1;
                    return Ok(Some(Permit {
                        slots: Arc::clone(self),
                    }));
                }
            }
            // A release between the check above and this poll left the pipe readable, so no
            // wake-up is lost; drain only after waking, then look at the count again.
            if poll_readable(&[self.freed.fd()], shutdown, None)? == Ready::Shutdown {
                return Ok(None);
            }
            self.freed.drain();
        }
    }

    /// Waits until no slot is in use or `deadline` passes; true when all were released.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> bool {
        // A stopping server has its shutdown triggered; waiting here must not end on it, so
        // poll against a private, never-triggered handle.
        let Ok(never) = Shutdown::new() else {
            return *self.lock() == 0;
        };
        loop {
            if *self.lock() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match poll_readable(&[self.freed.fd()], &never, Some(left)) {
                Ok(Ready::Fd(_)) => self.freed.drain(),
                Ok(_) | Err(_) => return *self.lock() == 0,
            }
        }
    }

    /// Slots in use.
    #[cfg(test)]
    pub(crate) fn active(&self) -> usize {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_set_waits_for_a_release_or_shutdown() {
        let slots = Slots::new(1).expect("pipe");
        let shutdown = Shutdown::new().expect("pipe");
        let first = slots.acquire(&shutdown).expect("ok").expect("free slot");
        assert_eq!(slots.active(), 1);
        let waiter = {
            let (slots, shutdown) = (Arc::clone(&slots), shutdown.clone());
            std::thread::spawn(move || slots.acquire(&shutdown).map(|p| p.is_some()))
        };
        drop(first);
        assert!(waiter.join().expect("no panic").expect("ok"));
        assert!(slots.wait_idle(Instant::now() + Duration::from_secs(5)));

        let held = slots.acquire(&shutdown).expect("ok").expect("free slot");
        let waiter = {
            let (slots, shutdown) = (Arc::clone(&slots), shutdown.clone());
            std::thread::spawn(move || slots.acquire(&shutdown).map(|p| p.is_some()))
        };
        shutdown.trigger();
        assert!(!waiter.join().expect("no panic").expect("ok"));
        assert!(!slots.wait_idle(Instant::now() + Duration::from_millis(5)));
        drop(held);
        assert!(slots.wait_idle(Instant::now()));
    }
}
