//! Cancellation: how the executor asks an attempt to stop, and why.

use tokio::sync::watch;

/// Why an attempt was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    TimedOut,
    /// SIGINT or SIGTERM reached the pipeline's process.
    Interrupted,
}

/// Fires when the attempt must stop (timeout, SIGTERM). Operators that run
/// for long await [`Cancel::cancelled`] alongside their work.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<Option<StopReason>>);

/// The executor's side of a [`Cancel`].
#[derive(Debug)]
pub struct CancelHandle(watch::Sender<Option<StopReason>>);

pub fn cancel_pair() -> (CancelHandle, Cancel) {
    let (tx, rx) = watch::channel(None);
    (CancelHandle(tx), Cancel(rx))
}

impl CancelHandle {
    pub fn cancel(&self, reason: StopReason) {
        let _ = self.0.send(Some(reason));
    }
}

impl Cancel {
    /// Resolves when the attempt is asked to stop, with the reason.
    pub async fn cancelled(&mut self) -> StopReason {
        loop {
            if let Some(reason) = *self.0.borrow() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                // The executor is gone: nobody will ever cancel; wait forever.
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }
}
