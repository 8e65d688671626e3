//! TLS on stream ports and to upstreams, and the front of every accepted TCP connection.
//!
//! Flow of an accepted connection ([`front::accept_front`]): PROXY protocol header on
//! `proxy_protocol` ports ([`crate::proxy_protocol`]) → on `tls: true` ports the ClientHello
//! is read first (rustls `LazyConfigAcceptor`), its SNI (or `apisix.ssl.fallback_sni`) picks
//! the SSL object from the pinned snapshot's [`CertIndex`](crate::tls::certs::CertIndex) and
//! that object's own `ServerConfig` finishes the handshake (so `client.ca` and `ssl_protocols`
//! apply per SNI); on `sni_preread` ports the ClientHello is only peeked
//! ([`crate::tls::sni`]) and the bytes pass through untouched → the
//! [`ConnInfo`](crate::conn::ConnInfo) carries the SNI and the client address into routing.
//!
//! Towards the upstream ([`upstream`]): PROXY header (`proxy_protocol_to_upstream`), then TLS
//! for `scheme: tls` upstreams. [`stream`] holds the plain-or-TLS stream types and the relay
//! over them. [`routes`] warns about SNI routes no listener can reach.
//!
//! [`TlsContext`] is shared by every listener: the settings taken from `config.yaml` and the
//! cache of upstream client configurations. The cert index is not here: it is compiled with
//! each snapshot, so the accept path never builds one.

pub mod front;
pub mod routes;
pub mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::tls::TlsSettings;

/// Shared TLS state of the data plane.
#[derive(Debug)]
pub struct TlsContext {
    snapshot: Option<SharedSnapshot>,
    settings: ArcSwap<TlsSettings>,
    clients: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl Default for TlsContext {
    fn default() -> Self {
        TlsContext::new(None, TlsSettings::default())
    }
}

impl TlsContext {
    /// A context whose route check follows `snapshot` (none: no check).
    pub fn new(snapshot: Option<SharedSnapshot>, settings: TlsSettings) -> TlsContext {
        TlsContext {
            snapshot,
            settings: ArcSwap::from_pointee(settings),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<TlsSettings> {
        self.settings.load_full()
    }

    /// Replaces the settings (config reload). Cached client configurations are dropped.
    pub fn set_settings(&self, settings: TlsSettings) {
        self.settings.store(Arc::new(settings));
        self.clients
            .lock()
            .expect("client config cache lock is never poisoned")
            .clear();
    }

    /// The current snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.as_ref().map(|s| s.load_full())
    }

    /// A cached client configuration under `key`, or the one `build` makes (then cached).
    fn client_config(
        &self,
        key: String,
        build: impl FnOnce() -> Result<rustls::ClientConfig, String>,
    ) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut cache = self
            .clients
            .lock()
            .expect("client config cache lock is never poisoned");
        if let Some(found) = cache.get(&key) {
            return Ok(found.clone());
        }
        let config = Arc::new(build()?);
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(key, config.clone());
        Ok(config)
    }
}
