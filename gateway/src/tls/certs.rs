//! SSL objects → rustls configurations, indexed by SNI, built once per set of SSL objects.
//!
//! Every `type: server`, `status: 1` SSL object becomes one [`ServerConfig`] (its cert/key
//! pairs, `ssl_protocols`, a client verifier when `client.ca` is set, and the session ticketer
//! of its identity, [`super::tickets`]) listed under each of
//! its `snis`: exact names, `*.suffix` wildcards (any depth, not the bare suffix) and `*`.
//! [`CertIndex::find`] prefers exact over the longest wildcard suffix over `*`; between SSL
//! objects claiming the same name, the first by id wins. `type: client` objects are kept as
//! client certificates for upstream mTLS (`upstream.tls.client_cert_id`). Objects that fail to
//! parse are logged and left out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use model::types::Ssl;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::keyring::decrypt_key;
use super::provider;
use super::sni::normalize;
use super::tickets::ticketer_for;

/// One usable server SSL object.
#[derive(Debug)]
pub struct ServerSsl {
    /// The SSL object's id.
    pub id: String,
    /// Its TLS server configuration.
    pub config: Arc<ServerConfig>,
    /// Whether it requires client certificates (`client.ca`).
    pub mtls: bool,
}

/// SSL objects indexed for certificate selection.
#[derive(Debug, Default)]
pub struct CertIndex {
    servers: Vec<ServerSsl>,
    exact: HashMap<String, usize>,
    /// Keyed by the suffix with its leading dot (`*.x.com` → `.x.com`).
    wildcard: HashMap<String, usize>,
    any: Option<usize>,
    clients: HashMap<String, Arc<CertifiedKey>>,
    /// The keyring the keys were decrypted with.
    keyring: Vec<String>,
}

impl CertIndex {
    /// Builds the index from `ssls` (by id), decrypting keys with `keyring`.
    pub fn build(ssls: &BTreeMap<String, Ssl>, keyring: &[String]) -> CertIndex {
        let mut index = CertIndex {
            keyring: keyring.to_vec(),
            ..CertIndex::default()
        };
        for (id, ssl) in ssls {
            if ssl.status == Some(0) {
                continue;
            }
            if ssl.ssl_type.as_deref() == Some("client") {
                match certified_keys(ssl, keyring).map(|mut keys| keys.swap_remove(0)) {
                    Ok(key) => {
                        index.clients.insert(id.clone(), key);
                    }
                    Err(e) => tracing::warn!(ssl = %id, error = %e, "skipping client ssl"),
                }
                continue;
            }
            let config = match server_config(ssl, keyring) {
                Ok(config) => config,
                Err(e) => {
                    tracing::warn!(ssl = %id, error = %e, "skipping ssl: cannot use its certificate");
                    continue;
                }
            };
            let pos = index.servers.len();
            index.servers.push(ServerSsl {
                id: id.clone(),
                config,
                mtls: ca_of(ssl).is_some(),
            });
            for sni in ssl.snis.iter().chain(ssl.sni.iter()) {
                let Some(name) = normalize(sni) else { continue };
                let slot = if name == "*" {
                    index.any.get_or_insert(pos);
                    continue;
                } else if let Some(suffix) = name.strip_prefix('*') {
                    index.wildcard.entry(suffix.to_owned())
                } else {
                    index.exact.entry(name)
                };
                slot.or_insert(pos);
            }
        }
        index
    }

    /// The SSL object serving `sni` (already normalized).
    pub fn find(&self, sni: &str) -> Option<&ServerSsl> {
        if let Some(&pos) = self.exact.get(sni) {
            return self.servers.get(pos);
        }
        // Longest suffix first: for a.b.x.com try .b.x.com, .x.com, .com.
        let wild = sni
            .char_indices()
            .filter(|&(_, c)| c == '.')
            .find_map(|(at, _)| self.wildcard.get(&sni[at..]));
        wild.or(self.any.as_ref())
            .and_then(|&pos| self.servers.get(pos))
    }

    /// The client certificate of the `type: client` SSL object `id`.
    pub fn client_cert(&self, id: &str) -> Option<Arc<CertifiedKey>> {
        self.clients.get(id).cloned()
    }

    /// The keyring the index decrypted its keys with.
    pub fn keyring(&self) -> &[String] {
        &self.keyring
    }

    /// How many server SSL objects are indexed.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether no server SSL object is usable.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }
}

fn ca_of(ssl: &Ssl) -> Option<&str> {
    ssl.client.as_ref()?.get("ca")?.as_str()
}

/// Parses a PEM certificate chain.
pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid certificate pem: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in pem".into());
    }
    Ok(certs)
}

/// Parses the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM text.
pub fn parse_private_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => "no private key in pem".to_owned(),
        other => format!("invalid private key pem: {other}"),
    })
}

/// A certificate chain and its (possibly encrypted) key as a rustls signing identity.
pub fn certified_key(cert: &str, key: &str, keyring: &[String]) -> Result<CertifiedKey, String> {
    let chain = parse_certs(cert)?;
    let key_pem =
        decrypt_key(key, keyring).ok_or("cannot decrypt the private key with the keyring")?;
    let der = parse_private_key(&key_pem)?;
    let signer = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("unusable private key: {e}"))?;
    Ok(CertifiedKey::new(chain, signer))
}

fn certified_keys(ssl: &Ssl, keyring: &[String]) -> Result<Vec<Arc<CertifiedKey>>, String> {
    let mut keys = Vec::new();
    if let (Some(cert), Some(key)) = (&ssl.cert, &ssl.key) {
        keys.push(Arc::new(certified_key(cert, key, keyring)?));
    }
    for (cert, key) in ssl.certs.iter().zip(&ssl.keys) {
        keys.push(Arc::new(certified_key(cert, key, keyring)?));
    }
    if keys.is_empty() {
        return Err("no certificate and key".into());
    }
    Ok(keys)
}

/// The TLS versions `ssl_protocols` allows (empty: 1.2 and 1.3).
pub fn versions(protocols: &[String]) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    if protocols.is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for p in protocols {
        match p.as_str() {
            "TLSv1.3" => out.push(&rustls::version::TLS13),
            "TLSv1.2" => out.push(&rustls::version::TLS12),
            other => tracing::debug!(protocol = %other, "tls version not supported; ignored"),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "ssl_protocols {protocols:?} allows neither TLSv1.2 nor TLSv1.3"
        ));
    }
    Ok(out)
}

/// Root certificates from a PEM bundle.
pub fn roots_from_pem(pem: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(pem)? {
        roots
            .add(cert)
            .map_err(|e| format!("unusable ca certificate: {e}"))?;
    }
    Ok(roots)
}

fn server_config(ssl: &Ssl, keyring: &[String]) -> Result<Arc<ServerConfig>, String> {
    let keys = certified_keys(ssl, keyring)?;
    let provider: Arc<CryptoProvider> = Arc::new(server_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&ssl.ssl_protocols)?)
        .map_err(|e| format!("tls versions: {e}"))?;
    let builder = match ca_of(ssl) {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots_from_pem(ca)?),
                provider,
            )
            .build()
            .map_err(|e| format!("client.ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(KeyChoice(keys)));
    config.ignore_client_order = true;
    if let Some(ticketer) = ticketer_for(ssl) {
        config.ticketer = ticketer;
    }
    Ok(Arc::new(config))
}

/// The crypto provider of the TLS servers: the AES-128-GCM suites first, chosen by the server
/// whatever the client's order. Their SHA-256 hashing (transcript, key schedule) runs on the
/// CPU's SHA extensions in ring, the SHA-384 of the AES-256 suites does not: 8 % of a full
/// handshake's CPU (README, "Targets not met").
fn server_provider() -> CryptoProvider {
    let mut provider = provider();
    provider.cipher_suites.sort_by_key(|suite| {
        !matches!(
            suite.suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
                | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    provider
}

/// Serves the first of an SSL object's keys that the client can verify (e.g. ECDSA or RSA).
#[derive(Debug)]
struct KeyChoice(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for KeyChoice {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        self.0
            .iter()
            .find(|key| key.key.choose_scheme(schemes).is_some())
            .or_else(|| self.0.first())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn servers_prefer_aes_128_gcm_and_keep_every_suite() {
        let suites: Vec<_> = server_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(suites.len(), provider().cipher_suites.len());
        let tls13: Vec<_> = suites
            .iter()
            .filter(|s| format!("{s:?}").starts_with("TLS13"))
            .collect();
        assert_eq!(tls13.len(), 3, "{suites:?}");
    }

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn ssl(snis: &[&str], extra: serde_json::Value) -> Ssl {
        let (cert, key) = pair("x.test");
        let mut value = json!({"cert": cert, "key": key, "snis": snis});
        if let (Some(obj), Some(more)) = (value.as_object_mut(), extra.as_object()) {
            obj.extend(more.clone());
        }
        serde_json::from_value(value).expect("ssl")
    }

    fn index(ssls: Vec<(&str, Ssl)>) -> CertIndex {
        let map = ssls.into_iter().map(|(id, s)| (id.to_owned(), s)).collect();
        CertIndex::build(&map, &[])
    }

    fn found(index: &CertIndex, sni: &str) -> Option<String> {
        index.find(sni).map(|s| s.id.clone())
    }

    #[test]
    fn exact_beats_longest_wildcard_beats_star() {
        let index = index(vec![
            ("any", ssl(&["*"], json!({}))),
            ("short", ssl(&["*.test"], json!({}))),
            ("long", ssl(&["*.b.test"], json!({}))),
            ("exact", ssl(&["A.B.Test."], json!({}))),
        ]);
        assert_eq!(found(&index, "a.b.test").as_deref(), Some("exact"));
        assert_eq!(found(&index, "x.y.b.test").as_deref(), Some("long"));
        assert_eq!(found(&index, "c.test").as_deref(), Some("short"));
        assert_eq!(found(&index, "elsewhere").as_deref(), Some("any"));
    }

    #[test]
    fn wildcard_does_not_cover_its_bare_suffix_and_disabled_objects_are_skipped() {
        let index = index(vec![
            ("wild", ssl(&["*.x.test"], json!({}))),
            ("off", ssl(&["x.test"], json!({"status": 0}))),
            ("client", ssl(&[], json!({"type": "client"}))),
        ]);
        assert_eq!(found(&index, "x.test"), None);
        assert_eq!(found(&index, "a.x.test").as_deref(), Some("wild"));
        assert_eq!(index.len(), 1);
        assert!(index.client_cert("client").is_some());
    }

    #[test]
    fn unusable_objects_are_left_out_and_protocols_are_checked() {
        let mut broken = ssl(&["bad.test"], json!({}));
        broken.key = Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into());
        let index = index(vec![("bad", broken)]);
        assert!(index.is_empty());
        assert!(versions(&["TLSv1.1".into()]).is_err());
        assert_eq!(versions(&["TLSv1.2".into()]).expect("1.2").len(), 1);
    }
}
