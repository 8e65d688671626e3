//! The certificates of the Admin and Control APIs: configured PEM files, or, when HTTPS is on
//! and none is configured, a self-signed certificate generated at first start (rcgen) for
//! `localhost`, `127.0.0.1` and the listen IPs (the host name too when listening on every
//! address), kept in `<prefix>/conf/admin_ssl.crt` and `admin_ssl.key` (mode 0600) and reused
//! on later starts. Its SHA-256 fingerprint is logged, so a remote client can compare it.
//! `apisixctl` and `apisix-tui` on the same host trust the generated file without flags.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::api_access::{ApiCert, ApiTls};
use crate::config::Config;
use crate::http_server::tls::{ReloadableTls, TlsFileError, TlsFiles};

/// The generated certificate, relative to the prefix.
pub const GENERATED_CERT: &str = "conf/admin_ssl.crt";
/// The generated certificate's key, relative to the prefix.
pub const GENERATED_KEY: &str = "conf/admin_ssl.key";

/// How long a generated certificate is valid, in years.
const GENERATED_VALID_YEARS: i32 = 10;

/// The TLS of the Admin API and of the Control API, loaded and reloadable.
#[derive(Debug, Default, Clone)]
pub struct ApiTlsSet {
    pub admin: Option<Arc<ReloadableTls>>,
    pub control: Option<Arc<ReloadableTls>>,
}

impl ApiTlsSet {
    /// Loads the files `config` names, generating the self-signed pair when needed. The
    /// error is one line naming the config key of the file at fault.
    pub fn load(config: &Config) -> Result<ApiTlsSet, String> {
        let listen_ips = [config.admin.listen.ip(), config.control.listen.ip()];
        let load = |tls: &Option<ApiTls>| -> Result<_, String> {
            let Some(tls) = tls else { return Ok(None) };
            let files = resolve(tls, &config.prefix, &listen_ips)?;
            ReloadableTls::load(files)
                .map(Some)
                .map_err(|e: TlsFileError| e.to_string())
        };
        let admin = if config.admin_enabled() {
            load(&config.admin.tls)?
        } else {
            None
        };
        let control = if config.control.enabled {
            load(&config.control.tls)?
        } else {
            None
        };
        Ok(ApiTlsSet { admin, control })
    }

    /// Checks the configured files without starting anything or generating a certificate
    /// (`apisix-gateway test`): a generated pair is checked only when it exists already.
    pub fn check(config: &Config) -> Result<(), String> {
        for tls in [&config.admin.tls, &config.control.tls]
            .into_iter()
            .flatten()
        {
            let (cert, key) = match &tls.cert {
                ApiCert::Files { cert, key } => (cert.clone(), key.clone()),
                ApiCert::Generated => {
                    let cert = config.prefix.join(GENERATED_CERT);
                    let key = config.prefix.join(GENERATED_KEY);
                    if !cert.exists() || !key.exists() {
                        continue;
                    }
                    (cert, key)
                }
            };
            let files = TlsFiles {
                cert,
                key,
                ca_cert: tls.ca_cert.clone(),
                keys: tls.keys,
            };
            ReloadableTls::load(files).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Re-reads every file (SIGHUP); a file that fails is logged and the old one kept.
    pub fn reload(&self) {
        for (api, tls) in [("admin", &self.admin), ("control", &self.control)] {
            let Some(tls) = tls else { continue };
            match tls.reload() {
                Ok(()) => {
                    tracing::info!(api, cert = %tls.files().cert.display(), "api tls certificate reloaded")
                }
                Err(e) => {
                    tracing::error!(api, error = %e, "api tls reload failed; keeping the old certificate")
                }
            }
        }
    }
}

/// The files of `tls`: the configured ones, or the generated pair (created when missing).
fn resolve(tls: &ApiTls, prefix: &Path, listen_ips: &[IpAddr]) -> Result<TlsFiles, String> {
    let (cert, key) = match &tls.cert {
        ApiCert::Files { cert, key } => (cert.clone(), key.clone()),
        ApiCert::Generated => ensure_generated(prefix, listen_ips)?,
    };
    Ok(TlsFiles {
        cert,
        key,
        ca_cert: tls.ca_cert.clone(),
        keys: tls.keys,
    })
}

/// The generated pair under `prefix`, created on first use; logs its fingerprint.
pub fn ensure_generated(
    prefix: &Path,
    listen_ips: &[IpAddr],
) -> Result<(PathBuf, PathBuf), String> {
    let cert_path = prefix.join(GENERATED_CERT);
    let key_path = prefix.join(GENERATED_KEY);
    if !cert_path.exists() || !key_path.exists() {
        let names = subject_names(listen_ips);
        let (cert_pem, key_pem) = generate(&names).map_err(|e| {
            format!(
                "{}: cannot generate a certificate: {e}",
                cert_path.display()
            )
        })?;
        write_private(&key_path, &key_pem)?;
        write_private(&cert_path, &cert_pem)?;
        tracing::warn!(
            cert = %cert_path.display(),
            names = ?names,
            "https admin: no certificate configured; generated a self-signed one"
        );
    }
    tighten(&key_path);
    match fingerprint(&cert_path) {
        Some(sha256) => {
            tracing::info!(cert = %cert_path.display(), sha256, "https admin: self-signed certificate in use")
        }
        None => {
            tracing::warn!(cert = %cert_path.display(), "https admin: cannot read the generated certificate")
        }
    }
    Ok((cert_path, key_path))
}

/// Sets mode 0600 on a generated key that others may read (copied or unpacked loosely).
fn tighten(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = fs::metadata(path) else { return };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "generated admin TLS key is readable by others; setting mode 0600");
        if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
            tracing::error!(path = %path.display(), error = %e, "cannot set mode 0600");
        }
    }
}

/// `localhost`, `127.0.0.1`, each specific listen IP, and the host name when a listener
/// takes every address.
fn subject_names(listen_ips: &[IpAddr]) -> Vec<String> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    for ip in listen_ips {
        let text = ip.to_string();
        if ip.is_unspecified() {
            if let Some(host) = host_name() {
                if !names.contains(&host) {
                    names.push(host);
                }
            }
        } else if !names.contains(&text) {
            names.push(text);
        }
    }
    names
}

fn host_name() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "localhost").then(|| name.to_owned())
}

/// A self-signed certificate for `names` (cert PEM, key PEM).
fn generate(names: &[String]) -> Result<(String, String), rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "apisix-gateway admin");
    let year = current_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + GENERATED_VALID_YEARS, 1, 1);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Close enough for a validity window that starts a year early.
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

/// Writes `text` to `path` with mode 0600 (see [`super::keyfile::write_private`]).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    super::keyfile::write_private(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The SHA-256 fingerprint of the first certificate in `path`, as `AB:CD:...`.
pub fn fingerprint(path: &Path) -> Option<String> {
    let pem = fs::read(path).ok()?;
    let der = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    Some(
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn generated_pair_is_private_reused_and_covers_the_listen_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ips: [IpAddr; 1] = ["10.1.2.3".parse().expect("ip")];
        let (cert, key) = ensure_generated(dir.path(), &ips).expect("generated");
        for path in [&cert, &key] {
            let mode = fs::metadata(path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let first = fingerprint(&cert).expect("fingerprint");
        assert_eq!(first.len(), 32 * 3 - 1);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("loosen");
        ensure_generated(dir.path(), &ips).expect("reused");
        assert_eq!(fingerprint(&cert), Some(first));
        let mode = fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a loose key is tightened on reuse");
        let names = subject_names(&ips);
        assert_eq!(names, ["localhost", "127.0.0.1", "10.1.2.3"]);
    }
}
