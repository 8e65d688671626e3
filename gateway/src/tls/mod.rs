//! TLS material, independent of connections: the SSL objects' certificate index
//! ([`certs::CertIndex`], built with each configuration snapshot), the keyring that decrypts
//! stored keys ([`keyring`]), the ClientHello SNI reader ([`sni`]), the session ticketers
//! shared across rebuilds of the index ([`tickets`]), the crypto provider, and
//! the `config.yaml` settings ([`TlsSettings`]). The data path's use of it (TLS termination,
//! SNI preread, TLS to upstreams) is in `proxy::tls`.

pub mod certs;
pub mod keyring;
pub mod sni;
pub mod tickets;

use ipnet::IpNet;
use rustls::crypto::CryptoProvider;

use crate::config::{Config, SslConfig};

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
    /// `apisix.ssl` and the keyring, with `fallback_sni` normalized (lower case, no trailing
    /// dot): the SNI for TLS clients that send none.
    pub ssl: SslConfig,
    /// `nginx_config.stream.real_ip_from`: peers whose PROXY header source is believed;
    /// empty trusts every peer (nginx `proxy_protocol` without `set_real_ip_from`).
    pub real_ip_from: Vec<IpNet>,
    /// Whether some TCP listener terminates TLS or prereads SNI (for the `sni` route warning).
    pub sni_listener: bool,
}

impl TlsSettings {
    /// The settings of `config`.
    pub fn from_config(config: &Config) -> TlsSettings {
        let mut ssl = config.ssl.clone();
        ssl.fallback_sni = ssl.fallback_sni.as_deref().and_then(sni::normalize);
        TlsSettings {
            ssl,
            real_ip_from: config.stream.log.real_ip_from.clone(),
            sni_listener: config.stream.tcp.iter().any(|l| l.tls || l.sni_preread),
        }
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
        assert_eq!(s.ssl.trusted, crate::config::TrustedCas::default());
        assert!(s.ssl.trusted.system_roots && s.ssl.trusted.files.is_empty());
        assert_eq!(s.ssl.keyring, ["qeddd145sfvddff3", "edd1c9f0985e76a2"]);
        assert_eq!((s.ssl.fallback_sni, s.sni_listener), (None, false));
    }

    #[test]
    fn config_keys_are_read() {
        let s = settings(
            "apisix:\n  proxy_mode: stream\n  stream_proxy:\n    tcp:\n      - addr: 9100\n        sni_preread: true\n  ssl:\n    fallback_sni: Example.COM.\n    ssl_trusted_certificate: system, certs/ca.pem\n  data_encryption:\n    enable_encrypt_fields: false\n    keyring: [abcdefghijklmnop]\nnginx_config:\n  stream:\n    real_ip_from: [10.0.0.0/8]\n",
        );
        assert_eq!(s.ssl.fallback_sni.as_deref(), Some("example.com"));
        assert!(s.ssl.trusted.system_roots);
        assert_eq!(
            s.ssl.trusted.files,
            [std::path::PathBuf::from("/srv/gw/certs/ca.pem")]
        );
        assert!(s.ssl.keyring.is_empty(), "enable_encrypt_fields: false");
        assert_eq!(
            s.real_ip_from,
            ["10.0.0.0/8".parse::<IpNet>().expect("cidr")]
        );
        assert!(s.sni_listener);
    }
}
