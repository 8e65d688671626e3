//! TLS for the HTTP/1 servers of the Admin and Control APIs: a server certificate and key read
//! from PEM files, and client verification (mutual TLS) when a CA file is given.
//!
//! [`ReloadableTls::load`] reads the files once at start-up; any problem (missing or unreadable
//! file, no certificate or key in it, a key that does not belong to the certificate) is one
//! [`TlsFileError`] naming the config key of the file at fault. [`ReloadableTls::reload`]
//! re-reads the same files (SIGHUP) and swaps the new configuration in only when it is whole:
//! handshakes after the swap use the new certificate; established connections keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The PEM files of one API's TLS setting, each with the config key that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key of the leaf.
    pub key: PathBuf,
    /// Client certificates must be signed by one of these CAs (mutual TLS) when set.
    pub ca_cert: Option<PathBuf>,
    /// The config keys of `cert`, `key` and `ca_cert`, for error messages.
    pub keys: TlsKeyNames,
}

/// The config keys that name the three files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsKeyNames {
    pub cert: &'static str,
    pub key: &'static str,
    pub ca_cert: &'static str,
}

impl TlsFiles {
    /// Whether clients must present a certificate.
    pub fn mutual(&self) -> bool {
        self.ca_cert.is_some()
    }
}

/// A TLS file that cannot be used: the config key, the file and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {}: {reason}", .path.display())]
pub struct TlsFileError {
    /// The config key that names the file.
    pub key: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// A server TLS configuration that SIGHUP can replace.
#[derive(Debug)]
pub struct ReloadableTls {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
}

impl ReloadableTls {
    /// Reads `files`; fails on the first file that cannot be used.
    pub fn load(files: TlsFiles) -> Result<Arc<ReloadableTls>, TlsFileError> {
        let config = server_config(&files)?;
        Ok(Arc::new(ReloadableTls {
            files,
            current: ArcSwap::from_pointee(config),
        }))
    }

    /// Re-reads the files; on success new handshakes use them, on failure nothing changes.
    pub fn reload(&self) -> Result<(), TlsFileError> {
        let config = server_config(&self.files)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// The files this configuration comes from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls server configuration for `files`.
fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsFileError> {
    let certs = read_certs(&files.cert, files.keys.cert)?;
    let key = read_key(&files.key, files.keys.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error(files.keys.cert, &files.cert, e))?;
    let builder = match &files.ca_cert {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, files.keys.ca_cert)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error(files.keys.ca_cert, ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| file_error(files.keys.ca_cert, ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        let reason = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key does not match the certificate {}",
                files.cert.display()
            ),
            other => other.to_string(),
        };
        TlsFileError {
            key: files.keys.key,
            path: files.key.clone(),
            reason,
        }
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn file_error(key: &'static str, path: &Path, err: impl std::fmt::Display) -> TlsFileError {
    TlsFileError {
        key,
        path: path.to_owned(),
        reason: err.to_string(),
    }
}

fn read_pem(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|e| file_error(key, path, e))
}

fn read_certs(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = read_pem(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no certificate in the file"));
    }
    Ok(certs)
}

fn read_key(path: &Path, key: &'static str) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let pem = read_pem(path, key)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            file_error(key, path, "no private key in the file")
        }
        other => file_error(key, path, format!("invalid PEM: {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: TlsKeyNames = TlsKeyNames {
        cert: "x.cert",
        key: "x.key",
        ca_cert: "x.ca_cert",
    };

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let pair =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed");
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, pair.cert.pem()).expect("write cert");
        std::fs::write(&key, pair.key_pair.serialize_pem()).expect("write key");
        (cert, key)
    }

    fn files(cert: PathBuf, key: PathBuf, ca_cert: Option<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert,
            key,
            ca_cert,
            keys: NAMES,
        }
    }

    #[test]
    fn a_matching_pair_loads_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), "a");
        let tls = ReloadableTls::load(files(cert.clone(), key, Some(cert))).expect("loads");
        assert!(tls.files().mutual());
        tls.reload().expect("reloads");
    }

    #[test]
    fn missing_file_names_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = write_pair(dir.path(), "a");
        let err = ReloadableTls::load(files(cert, dir.path().join("nope.key"), None))
            .expect_err("missing key file");
        assert_eq!(err.key, "x.key");
        assert!(err.to_string().starts_with("x.key: "), "{err}");
        assert!(err.to_string().contains("nope.key"), "{err}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = write_pair(dir.path(), "a");
        let (_, other_key) = write_pair(dir.path(), "b");
        let err = ReloadableTls::load(files(cert, other_key, None)).expect_err("mismatch");
        assert_eq!(err.key, "x.key");
        assert!(err.reason.contains("does not match"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), "a");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let err = ReloadableTls::load(files(cert, key, Some(empty))).expect_err("empty ca");
        assert_eq!(err.key, "x.ca_cert");
    }

    #[test]
    fn a_failed_reload_keeps_the_old_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_pair(dir.path(), "a");
        let tls = ReloadableTls::load(files(cert, key.clone(), None)).expect("loads");
        let before = tls.current.load_full();
        std::fs::write(&key, "garbage").expect("break key");
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.current.load_full()));
    }
}
