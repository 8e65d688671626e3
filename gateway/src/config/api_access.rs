//! How the Admin and Control APIs are reached remotely: TLS and the audit trail.
//!
//! - `deployment.admin.https_admin` (APISIX's key) with `deployment.admin.admin_api_mtls.
//!   {admin_ssl_cert, admin_ssl_cert_key, admin_ssl_ca_cert}`: HTTPS on `admin_listen`; no
//!   certificate configured means a generated self-signed one (see `admin::tls`).
//! - `apisix.control.tls: {cert, key, ca_cert}` (ours): the Control API over TLS, same rules.
//! - `deployment.admin.audit_log` (ours; default `logs/admin_audit.log`, `false` = off).
//!
//! Paths resolve against the prefix. Whether the files can be used is checked when the
//! servers start (`http_server::tls`), where an unusable file stops start-up.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::reader::{describe, Reader};
use crate::http_server::tls::TlsKeyNames;

/// The default `deployment.admin.audit_log`, relative to the prefix.
pub const DEFAULT_AUDIT_LOG: &str = "logs/admin_audit.log";

/// The config keys of the Admin API's TLS files (APISIX's).
pub const ADMIN_TLS_KEYS: TlsKeyNames = TlsKeyNames {
    cert: "deployment.admin.admin_api_mtls.admin_ssl_cert",
    key: "deployment.admin.admin_api_mtls.admin_ssl_cert_key",
    ca_cert: "deployment.admin.admin_api_mtls.admin_ssl_ca_cert",
};

/// The config keys of the Control API's TLS files (ours).
pub const CONTROL_TLS_KEYS: TlsKeyNames = TlsKeyNames {
    cert: "apisix.control.tls.cert",
    key: "apisix.control.tls.key",
    ca_cert: "apisix.control.tls.ca_cert",
};

/// Where an API's server certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCert {
    /// Configured PEM files (resolved against the prefix).
    Files { cert: PathBuf, key: PathBuf },
    /// None configured: the generated self-signed `conf/admin_ssl.crt` / `conf/admin_ssl.key`.
    Generated,
}

/// TLS on one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    pub cert: ApiCert,
    /// Clients must present a certificate signed by this CA (mutual TLS).
    pub ca_cert: Option<PathBuf>,
    /// The config keys, for messages.
    pub keys: TlsKeyNames,
}

/// Reads `deployment.admin.https_admin` and `admin_api_mtls`.
pub fn admin_tls(r: &mut Reader<'_>, prefix: &Path) -> Option<ApiTls> {
    let https = r.bool("deployment.admin.https_admin", false);
    let tls = files(r, prefix, ADMIN_TLS_KEYS);
    if !https {
        if tls.cert != ApiCert::Generated || tls.ca_cert.is_some() {
            r.warn(
                "deployment.admin.admin_api_mtls: ignored because deployment.admin.https_admin \
                 is not true",
            );
        }
        return None;
    }
    Some(tls)
}

/// Warns when the Admin API is reachable from other hosts over plain HTTP: the admin key
/// would travel in clear text.
pub fn warn_clear_text_admin(r: &mut Reader<'_>, listen: std::net::IpAddr, tls: Option<&ApiTls>) {
    if tls.is_none() && !listen.is_loopback() {
        r.warn(format!(
            "deployment.admin.admin_listen: {listen} is reachable from other hosts over plain \
             HTTP and the admin key travels in clear text; set deployment.admin.https_admin: true"
        ));
    }
}

/// Reads `apisix.control.tls` (absent: plain HTTP).
pub fn control_tls(r: &mut Reader<'_>, prefix: &Path) -> Option<ApiTls> {
    match r.value("apisix.control.tls")? {
        Value::Object(_) => Some(files(r, prefix, CONTROL_TLS_KEYS)),
        other => {
            r.error(format!(
                "apisix.control.tls: expected a mapping with cert, key and ca_cert, got {}",
                describe(other)
            ));
            None
        }
    }
}

/// The three file keys of one API: cert and key together or neither, CA optional.
fn files(r: &mut Reader<'_>, prefix: &Path, keys: TlsKeyNames) -> ApiTls {
    let mut path = |key: &str| {
        let value = r.string(key)?;
        if value.trim().is_empty() {
            r.error(format!("{key}: must not be empty"));
            return None;
        }
        Some(super::resolve_path(prefix, &value))
    };
    let (cert, key, ca_cert) = (path(keys.cert), path(keys.key), path(keys.ca_cert));
    let cert = match (cert, key) {
        (Some(cert), Some(key)) => ApiCert::Files { cert, key },
        (None, None) => ApiCert::Generated,
        (Some(_), None) => {
            r.error(format!("{}: required when {} is set", keys.key, keys.cert));
            ApiCert::Generated
        }
        (None, Some(_)) => {
            r.error(format!("{}: required when {} is set", keys.cert, keys.key));
            ApiCert::Generated
        }
    };
    ApiTls {
        cert,
        ca_cert,
        keys,
    }
}

/// Reads `deployment.admin.audit_log`: a path, `true` (the default path) or `false` (off).
pub fn audit_log(r: &mut Reader<'_>, prefix: &Path) -> Option<PathBuf> {
    let key = "deployment.admin.audit_log";
    match r.value(key) {
        None | Some(Value::Bool(true)) => Some(super::resolve_path(prefix, DEFAULT_AUDIT_LOG)),
        Some(Value::Bool(false)) => None,
        Some(Value::String(path)) if !path.trim().is_empty() => {
            Some(super::resolve_path(prefix, path))
        }
        Some(other) => {
            r.error(format!(
                "{key}: expected a file path or false, got {}",
                describe(other)
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(yaml: &str, f: impl FnOnce(&mut Reader<'_>, &Path) -> T) -> (T, Reader<'static>) {
        let value: serde_json::Value = serde_norway::from_str(yaml).expect("yaml");
        let root: &'static Value = Box::leak(Box::new(value));
        let mut r = Reader::new(root);
        let out = f(&mut r, Path::new("/srv/gw"));
        (out, r)
    }

    #[test]
    fn https_admin_with_files_resolves_them_against_the_prefix() {
        let yaml = "deployment:\n  admin:\n    https_admin: true\n    admin_api_mtls:\n      \
                    admin_ssl_cert: conf/a.crt\n      admin_ssl_cert_key: /etc/a.key\n      \
                    admin_ssl_ca_cert: ca.pem\n";
        let (tls, r) = read(yaml, admin_tls);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        let tls = tls.expect("https on");
        assert_eq!(
            tls.cert,
            ApiCert::Files {
                cert: "/srv/gw/conf/a.crt".into(),
                key: "/etc/a.key".into()
            }
        );
        assert_eq!(tls.ca_cert, Some(PathBuf::from("/srv/gw/ca.pem")));
    }

    #[test]
    fn https_admin_without_files_generates_and_mtls_keys_alone_only_warn() {
        let (tls, _) = read("deployment:\n  admin:\n    https_admin: true\n", admin_tls);
        assert_eq!(tls.map(|t| t.cert), Some(ApiCert::Generated));
        let yaml =
            "deployment:\n  admin:\n    admin_api_mtls:\n      admin_ssl_cert: a.crt\n      \
                    admin_ssl_cert_key: a.key\n";
        let (tls, r) = read(yaml, admin_tls);
        assert_eq!(tls, None);
        assert!(r.errors.is_empty());
        assert!(
            r.warnings[0].contains("https_admin is not true"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn cert_without_key_is_an_error_naming_the_missing_key() {
        let yaml = "apisix:\n  control:\n    tls:\n      cert: c.pem\n";
        let (_, r) = read(yaml, control_tls);
        assert_eq!(
            r.errors,
            vec!["apisix.control.tls.key: required when apisix.control.tls.cert is set"]
        );
        let (_, r) = read("apisix:\n  control:\n    tls: true\n", control_tls);
        assert!(r.errors[0].starts_with("apisix.control.tls: expected a mapping"));
    }

    #[test]
    fn a_plain_http_admin_api_off_loopback_is_warned_about() {
        let (_, mut r) = read("{}", |_, _| ());
        warn_clear_text_admin(&mut r, "127.0.0.1".parse().expect("ip"), None);
        assert!(r.warnings.is_empty());
        warn_clear_text_admin(&mut r, "0.0.0.0".parse().expect("ip"), None);
        assert!(r.warnings[0].contains("clear text"), "{:?}", r.warnings);
    }

    #[test]
    fn audit_log_defaults_to_logs_and_false_turns_it_off() {
        let (path, _) = read("{}", audit_log);
        assert_eq!(path, Some(PathBuf::from("/srv/gw/logs/admin_audit.log")));
        let (path, _) = read("deployment:\n  admin:\n    audit_log: false\n", audit_log);
        assert_eq!(path, None);
        let (path, _) = read(
            "deployment:\n  admin:\n    audit_log: /var/a.log\n",
            audit_log,
        );
        assert_eq!(path, Some(PathBuf::from("/var/a.log")));
        let (_, r) = read("deployment:\n  admin:\n    audit_log: 3\n", audit_log);
        assert_eq!(
            r.errors,
            vec!["deployment.admin.audit_log: expected a file path or false, got 3"]
        );
    }
}
