//! Start-up and reload status for systemd (`Type=notify`): `READY=1` once the listeners, the
//! Admin API and the store are up, `RELOADING=1` while a SIGHUP reload runs, `STOPPING=1` when
//! the drain starts. Each is a datagram to `$NOTIFY_SOCKET`, and nothing without it.

use sd_notify::NotifyState;

/// Start-up is complete, or a reload has finished.
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// A reload begins.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The drain begins.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd ($NOTIFY_SOCKET)");
    }
}
