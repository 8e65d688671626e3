//! TLS on stream ports and to upstreams, and the front of every accepted TCP connection.
//!
//! Flow of an accepted connection ([`front::accept_front`]): PROXY protocol header on
//! `proxy_protocol` ports ([`crate::proxy_protocol`]) → on `tls: true` ports the ClientHello
//! is read first (rustls `LazyConfigAcceptor`), its SNI (or `apisix.ssl.fallback_sni`) picks
//! the SSL object from the [`certs::CertIndex`] and that object's own `ServerConfig` finishes
//! the handshake (so `client.ca` and `ssl_protocols` apply per SNI); on `sni_preread` ports the
//! ClientHello is only peeked ([`sni`]) and the bytes pass through untouched → the
//! [`ConnInfo`](crate::conn::ConnInfo) carries the SNI and the client address into routing.
//!
//! Towards the upstream ([`upstream`]): PROXY header (`proxy_protocol_to_upstream`), then TLS
//! for `scheme: tls` upstreams. [`stream`] holds the plain-or-TLS stream types and the relay
//! over them.
//!
//! [`TlsContext`] is shared by every listener: the snapshot (SSL objects), the settings taken
//! from `config.yaml`, and the caches (the cert index is rebuilt only when the snapshot's SSL
//! objects change; client configurations are reused).

pub mod certs;
pub mod front;
pub mod keyring;
pub mod routes;
pub mod sni;
pub mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use ipnet::IpNet;
use rustls::crypto::CryptoProvider;

use crate::config::Config;
use crate::snapshot::{SharedSnapshot, Snapshot};
use certs::CertIndex;

/// The crypto provider used everywhere (ring).
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The verifier of `tls.verify: false`: any server certificate, signatures still checked.
pub fn accept_any_certificate() -> std::sync::Arc<model::tls::AcceptAnyCertificate> {
    std::sync::Arc::new(model::tls::AcceptAnyCertificate::new(std::sync::Arc::new(
        provider(),
    )))
}

/// The `config.yaml` settings the connection front needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    /// `apisix.ssl.fallback_sni`: the SNI for TLS clients that send none.
    pub fallback_sni: Option<String>,
    /// `nginx_config.stream.real_ip_from`: peers whose PROXY header source is believed;
    /// empty trusts every peer (nginx `proxy_protocol` without `set_real_ip_from`).
    pub real_ip_from: Vec<IpNet>,
    /// `apisix.ssl.ssl_trusted_certificate`: CA bundles for upstream verification; `None`
    /// or the word `system` mean the bundled web PKI roots.
    pub trusted_certificates: Vec<PathBuf>,
    /// Whether the bundled web PKI roots are trusted too (`system`, the default).
    pub trust_system_roots: bool,
    /// `apisix.data_encryption.keyring` (empty when `enable_encrypt_fields` is off).
    pub keyring: Vec<String>,
    /// Whether some TCP listener terminates TLS or prereads SNI (for the `sni` route warning).
    pub sni_listener: bool,
}

impl TlsSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> TlsSettings {
        let mut trust_system_roots = false;
        let mut trusted_certificates = Vec::new();
        match config.ssl_trusted_certificate.as_deref() {
            None => trust_system_roots = true,
            Some(list) => {
                for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if item == "system" {
                        trust_system_roots = true;
                    } else {
                        trusted_certificates.push(config.prefix.join(item));
                    }
                }
            }
        }
        TlsSettings {
            fallback_sni: config.fallback_sni.as_deref().and_then(sni::normalize),
            real_ip_from: config.stream_log.real_ip_from.clone(),
            trusted_certificates,
            trust_system_roots,
            keyring: config.data_encryption_keyring.clone(),
            sni_listener: config.stream_tcp.iter().any(|l| l.tls || l.sni_preread),
        }
    }
}

/// A built cert index and the SSL objects it was built from.
#[derive(Debug)]
struct CachedIndex {
    snapshot: Arc<Snapshot>,
    keyring: Vec<String>,
    index: Arc<CertIndex>,
}

/// Shared TLS state of the data plane.
#[derive(Debug)]
pub struct TlsContext {
    snapshot: Option<SharedSnapshot>,
    settings: ArcSwap<TlsSettings>,
    index: ArcSwapOption<CachedIndex>,
    clients: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl Default for TlsContext {
    fn default() -> Self {
        TlsContext::new(None, TlsSettings::default())
    }
}

impl TlsContext {
    /// A context reading SSL objects from `snapshot` (none: no certificates).
    pub fn new(snapshot: Option<SharedSnapshot>, settings: TlsSettings) -> TlsContext {
        TlsContext {
            snapshot,
            settings: ArcSwap::from_pointee(settings),
            index: ArcSwapOption::empty(),
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

    /// The cert index of the current snapshot (see [`TlsContext::cert_index_of`]).
    pub fn cert_index(&self) -> Arc<CertIndex> {
        match self.snapshot() {
            Some(snapshot) => self.cert_index_of(&snapshot),
            None => Arc::new(CertIndex::default()),
        }
    }

    /// The cert index of `snapshot` (the one a connection pinned); rebuilt only when its SSL
    /// objects (or the keyring) differ from the last index built.
    pub fn cert_index_of(&self, snapshot: &Arc<Snapshot>) -> Arc<CertIndex> {
        let snapshot = snapshot.clone();
        let settings = self.settings();
        if let Some(cached) = self.index.load_full() {
            if Arc::ptr_eq(&cached.snapshot, &snapshot) && cached.keyring == settings.keyring {
                return cached.index.clone();
            }
            if cached.snapshot.ssls == snapshot.ssls && cached.keyring == settings.keyring {
                let index = cached.index.clone();
                self.index.store(Some(Arc::new(CachedIndex {
                    snapshot,
                    keyring: settings.keyring.clone(),
                    index: index.clone(),
                })));
                return index;
            }
        }
        let index = Arc::new(CertIndex::build(&snapshot.ssls, &settings.keyring));
        tracing::debug!(
            revision = snapshot.revision,
            ssls = index.len(),
            "built the tls certificate index"
        );
        self.index.store(Some(Arc::new(CachedIndex {
            snapshot,
            keyring: settings.keyring.clone(),
            index: index.clone(),
        })));
        index
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(yaml: &str) -> TlsSettings {
        let prefix = Path::new("/srv/gw");
        let (config, _) =
            crate::config::from_yaml_str(yaml, &prefix.join("conf/config.yaml"), prefix)
                .expect("valid config");
        TlsSettings::from_config(&config)
    }

    #[test]
    fn defaults_trust_system_roots_and_use_apisix_keyring() {
        let s = settings("");
        assert!(s.trust_system_roots);
        assert!(s.trusted_certificates.is_empty());
        assert_eq!(s.keyring, ["qeddd145sfvddff3", "edd1c9f0985e76a2"]);
        assert_eq!((s.fallback_sni, s.sni_listener), (None, false));
    }

    #[test]
    fn config_keys_are_read() {
        let s = settings(
            "apisix:\n  proxy_mode: stream\n  stream_proxy:\n    tcp:\n      - addr: 9100\n        sni_preread: true\n  ssl:\n    fallback_sni: Example.COM.\n    ssl_trusted_certificate: system, certs/ca.pem\n  data_encryption:\n    enable_encrypt_fields: false\n    keyring: [abcdefghijklmnop]\nnginx_config:\n  stream:\n    real_ip_from: [10.0.0.0/8]\n",
        );
        assert_eq!(s.fallback_sni.as_deref(), Some("example.com"));
        assert!(s.trust_system_roots);
        assert_eq!(
            s.trusted_certificates,
            [PathBuf::from("/srv/gw/certs/ca.pem")]
        );
        assert!(s.keyring.is_empty(), "enable_encrypt_fields: false");
        assert_eq!(
            s.real_ip_from,
            ["10.0.0.0/8".parse::<IpNet>().expect("cidr")]
        );
        assert!(s.sni_listener);
    }
}
