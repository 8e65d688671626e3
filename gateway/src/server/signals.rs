//! Turns process signals into [`LifecycleEvent`]s: SIGHUP → reload, SIGTERM / SIGINT →
//! shutdown, SIGUSR1 → reopen logs. Tests drive the server through the same channel without signals.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::server::LifecycleEvent;

/// Installs the signal handlers and forwards signals as events. Must run inside a runtime.
pub fn signal_events() -> std::io::Result<mpsc::Receiver<LifecycleEvent>> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                Some(()) = hup.recv() => LifecycleEvent::Reload,
                Some(()) = term.recv() => LifecycleEvent::Shutdown,
                Some(()) = int.recv() => LifecycleEvent::Shutdown,
                Some(()) = usr1.recv() => LifecycleEvent::ReopenLogs,
                else => break,
            };
            tracing::info!(?event, "signal received");
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
