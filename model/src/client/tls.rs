//! TLS of the Admin and Control API clients, shared by `apisixctl` and `apisix-tui`: the
//! settings with ADC's flag and variable names ([`ClientTls`]), the rustls configuration built
//! from them, and the one-line reason of a failed handshake ([`handshake_problem`]).
//!
//! Trust: `--ca-cert-file` alone when given; otherwise the operating system's CAs plus the
//! certificate the gateway generated on this host (`./conf/admin_ssl.crt`, then
//! `$APISIX_PREFIX/conf/admin_ssl.crt`, found like the generated admin key), so `apisixctl`
//! next to a gateway with `https_admin: true` works without flags. `--tls-skip-verify` accepts
//! any server certificate (the handshake signatures are still checked).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, RootCertStore};

use super::ClientError;
use crate::tls::AcceptAnyCertificate;

/// `--ca-cert-file`.
pub const CA_CERT_ENV: &str = "ADC_CA_CERT_FILE";
/// `--tls-client-cert-file`.
pub const CLIENT_CERT_ENV: &str = "ADC_TLS_CLIENT_CERT_FILE";
/// `--tls-client-key-file`.
pub const CLIENT_KEY_ENV: &str = "ADC_TLS_CLIENT_KEY_FILE";
/// `--tls-skip-verify` (`true` turns it on).
pub const SKIP_VERIFY_ENV: &str = "ADC_TLS_SKIP_VERIFY";

/// The gateway's generated certificate, relative to its prefix.
pub const GENERATED_CERT: &str = "conf/admin_ssl.crt";

/// How the clients use TLS (for `https://` URLs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// Trust only this CA bundle (PEM).
    pub ca_cert_file: Option<PathBuf>,
    /// Present this certificate chain (PEM) to servers that ask (mutual TLS).
    pub client_cert_file: Option<PathBuf>,
    /// The key of `client_cert_file` (PEM).
    pub client_key_file: Option<PathBuf>,
    /// Accept any server certificate.
    pub skip_verify: bool,
    /// The gateway's generated certificate on this host, trusted when no CA file is given.
    pub generated_cert: Option<PathBuf>,
}

impl ClientTls {
    /// Whether a client certificate is configured.
    pub fn mutual(&self) -> bool {
        self.client_cert_file.is_some()
    }

    /// The rustls configuration of these settings; a file that cannot be used is an error
    /// naming the flag and the file.
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(format!("tls: {e}")))?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let mut config = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "--tls-client-cert-file")?;
                let key_der = read_key(key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    setup(format!(
                        "--tls-client-key-file {}: does not fit --tls-client-cert-file {}: {e}",
                        key.display(),
                        cert.display()
                    ))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => {
                return Err(setup(
                    "--tls-client-cert-file needs --tls-client-key-file".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(setup(
                    "--tls-client-key-file needs --tls-client-cert-file".into(),
                ))
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    fn roots(&self) -> Result<RootCertStore, ClientError> {
        let mut roots = RootCertStore::empty();
        if let Some(ca) = &self.ca_cert_file {
            for cert in read_certs(ca, "--ca-cert-file")? {
                roots
                    .add(cert)
                    .map_err(|e| setup(format!("--ca-cert-file {}: {e}", ca.display())))?;
            }
            return Ok(roots);
        }
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(generated) = &self.generated_cert {
            // Best effort: an unreadable generated file only means it is not trusted.
            if let Ok(certs) = read_certs(generated, "generated certificate") {
                roots.add_parsable_certificates(certs);
            }
        }
        Ok(roots)
    }
}

/// Where the gateway's generated certificate may be on this host, in lookup order (as
/// [`crate::admin_key::key_file_candidates`]).
pub fn generated_cert_candidates(env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Vec<PathBuf> {
    let mut out = vec![cwd.join(GENERATED_CERT)];
    if let Some(prefix) = env("APISIX_PREFIX").filter(|p| !p.trim().is_empty()) {
        out.push(Path::new(&prefix).join(GENERATED_CERT));
    }
    out
}

/// The first generated certificate that exists.
pub fn find_generated_cert(env: &dyn Fn(&str) -> Option<String>, cwd: &Path) -> Option<PathBuf> {
    generated_cert_candidates(env, cwd)
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether an environment value turns a boolean on (`true`, `1`, `yes`).
pub fn env_flag(value: Option<String>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn setup(reason: String) -> ClientError {
    ClientError::TlsSetup { reason }
}

fn read_certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let pem = std::fs::read(path).map_err(|e| setup(format!("{flag} {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup(format!("{flag} {}: invalid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(setup(format!(
            "{flag} {}: no certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ClientError> {
    let flag = "--tls-client-key-file";
    let pem = std::fs::read(path).map_err(|e| setup(format!("{flag} {}: {e}", path.display())))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        setup(format!(
            "{flag} {}: no usable private key: {e}",
            path.display()
        ))
    })
}

/// The one-line reason of a TLS failure somewhere in `err`'s chain, if it is one.
pub fn handshake_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = as_rustls(e) {
            return Some(describe(tls));
        }
        current = e.source();
    }
    None
}

/// `e` as a rustls error, also when wrapped in (layers of) `io::Error`, whose `source()`
/// skips the error it wraps.
fn as_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    as_rustls(inner)
}

fn describe(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => "certificate problem: unknown issuer (the server's \
                certificate is not signed by a trusted CA; pass --ca-cert-file)"
                .into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate problem: name mismatch (the server's certificate is not valid for \
                 the host name in the URL)"
                    .into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate problem: expired (the server's certificate is no longer valid)".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate problem: not valid yet (check the clocks)".into()
            }
            other => format!("certificate problem: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => "client certificate required (the server \
                asks for one: pass --tls-client-cert-file and --tls-client-key-file)"
                .into(),
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied => format!(
                "client certificate refused by the server ({alert:?}: not signed by a CA it trusts)"
            ),
            AlertDescription::HandshakeFailure => {
                "handshake failure (the server may require a client certificate)".into()
            }
            other => format!("the server refused the TLS handshake ({other:?})"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the server does not speak TLS here (try http://)".into()
        }
        other => format!("tls: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_certificate_problem() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe(&unknown).starts_with("certificate problem: unknown issuer"));
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(describe(&name).starts_with("certificate problem: name mismatch"));
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(describe(&expired).starts_with("certificate problem: expired"));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(describe(&required).starts_with("client certificate required"));
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_found() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let reason = handshake_problem(&io).expect("found");
        assert!(reason.contains("unknown issuer"), "{reason}");
        let twice = std::io::Error::other(io);
        let reason = handshake_problem(&twice).expect("found under two layers");
        assert!(reason.contains("unknown issuer"), "{reason}");
        let plain = std::io::Error::other("connection refused");
        assert_eq!(handshake_problem(&plain), None);
    }

    #[test]
    fn half_a_client_certificate_or_a_missing_file_is_a_setup_error() {
        let half = ClientTls {
            client_cert_file: Some("c.pem".into()),
            ..ClientTls::default()
        };
        let err = half.rustls_config().expect_err("needs the key");
        assert_eq!(
            err.to_string(),
            "tls settings: --tls-client-cert-file needs --tls-client-key-file"
        );
        let missing = ClientTls {
            ca_cert_file: Some("/nonexistent/ca.pem".into()),
            ..ClientTls::default()
        };
        let err = missing.rustls_config().expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("tls settings: --ca-cert-file /nonexistent/ca.pem: "),
            "{err}"
        );
    }

    #[test]
    fn generated_certificate_is_looked_up_in_cwd_then_prefix() {
        let env = |n: &str| (n == "APISIX_PREFIX").then(|| "/srv/gw".to_owned());
        assert_eq!(
            generated_cert_candidates(&env, Path::new("/work")),
            [
                PathBuf::from("/work/conf/admin_ssl.crt"),
                PathBuf::from("/srv/gw/conf/admin_ssl.crt")
            ]
        );
        assert!(env_flag(Some("true".into())) && env_flag(Some("1".into())));
        assert!(!env_flag(Some("false".into())) && !env_flag(None));
    }
}
