//! Session tickets for TLS termination (stateless resumption, TLS 1.3 PSK and TLS 1.2
//! tickets): one rustls ticketer per SSL object *identity* — its certificates, keys,
//! `ssl_protocols` and `client` settings — shared by every `ServerConfig` built for that
//! identity while one of them is in use.
//!
//! So a configuration change that rebuilds the certificate index (another SSL object added,
//! routes and SNIs edited) keeps the tickets clients hold valid, while a changed certificate,
//! key, protocol list or client CA gets a fresh ticketer: its clients do a full handshake and
//! see the new certificate, and a ticket from before a `client.ca` was set never skips the
//! client certificate check. rustls itself refuses a ticket for another SNI. Ticket keys are
//! random per process and rotate every 6 hours (rustls `Ticketer`: a ticket lives at most
//! 12 hours). Without a ticketer rustls keeps a 256-entry session cache per `ServerConfig`,
//! emptied by every rebuild and, with 2 tickets per handshake, too small past about 128
//! clients: with 200 clients resuming in turn only 64 % of their handshakes resumed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use model::types::Ssl;
use rustls::server::ProducesTickets;

type Identity = [u8; 32];

fn ticketers() -> &'static Mutex<HashMap<Identity, Weak<dyn ProducesTickets>>> {
    static TICKETERS: OnceLock<Mutex<HashMap<Identity, Weak<dyn ProducesTickets>>>> =
        OnceLock::new();
    TICKETERS.get_or_init(Mutex::default)
}

/// SHA-256 over what a ticket's validity depends on (not the SNIs, labels or status).
fn identity(ssl: &Ssl) -> Identity {
    let parts = serde_json::json!([
        ssl.cert,
        ssl.key,
        ssl.certs,
        ssl.keys,
        ssl.ssl_protocols,
        ssl.client
    ]);
    let digest = ring::digest::digest(&ring::digest::SHA256, parts.to_string().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The ticketer for `ssl`'s identity: the one already in use, or a new one. `None` when the
/// system cannot produce random keys (the config then keeps rustls' session cache).
pub fn ticketer_for(ssl: &Ssl) -> Option<Arc<dyn ProducesTickets>> {
    let key = identity(ssl);
    let mut map = ticketers()
        .lock()
        .expect("ticketer map lock is never poisoned");
    if let Some(found) = map.get(&key).and_then(Weak::upgrade) {
        return Some(found);
    }
    let ticketer = match rustls::crypto::ring::Ticketer::new() {
        Ok(ticketer) => ticketer,
        Err(e) => {
            tracing::warn!(error = %e, "no session tickets: cannot make ticket keys");
            return None;
        }
    };
    map.retain(|_, weak| weak.strong_count() > 0);
    map.insert(key, Arc::downgrade(&ticketer));
    Some(ticketer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ssl(value: serde_json::Value) -> Ssl {
        serde_json::from_value(value).expect("ssl")
    }

    #[test]
    fn one_identity_shares_a_ticketer_and_a_changed_one_gets_its_own() {
        let a = ssl(json!({"cert": "c1", "key": "k1", "snis": ["a.test"]}));
        let first = ticketer_for(&a).expect("ticketer");
        let renamed =
            ssl(json!({"cert": "c1", "key": "k1", "snis": ["b.test"], "labels": {"x": "y"}}));
        let same = ticketer_for(&renamed).expect("ticketer");
        assert!(Arc::ptr_eq(&first, &same), "snis and labels do not matter");

        let new_cert = ticketer_for(&ssl(json!({"cert": "c2", "key": "k1"}))).expect("ticketer");
        assert!(!Arc::ptr_eq(&first, &new_cert));
        let mtls = ssl(json!({"cert": "c1", "key": "k1", "client": {"ca": "ca"}}));
        let with_ca = ticketer_for(&mtls).expect("ticketer");
        assert!(
            !Arc::ptr_eq(&first, &with_ca),
            "client.ca changes the identity"
        );
    }

    #[test]
    fn a_ticketer_no_config_uses_is_not_kept() {
        let a = ssl(json!({"cert": "dropped", "key": "k"}));
        let first = ticketer_for(&a).expect("ticketer");
        let weak = Arc::downgrade(&first);
        drop(first);
        assert!(weak.upgrade().is_none());
        let again = ticketer_for(&a).expect("ticketer");
        assert!(again.enabled());
    }
}
