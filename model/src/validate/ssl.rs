//! `check_ssl_conf` of apisix/ssl.lua, with a loose PEM reader standing in for OpenSSL:
//! a certificate is a `CERTIFICATE` PEM block whose base64 body decodes to a DER sequence,
//! a key a `PRIVATE KEY` / `RSA PRIVATE KEY` / `EC PRIVATE KEY` block. Full parsing (and
//! cert/key matching, which APISIX does not check either) is left to the TLS layer.

use base64::Engine;
use serde_json::Value;

use super::{schema_error, Mode};
use crate::jsonschema;
use crate::schema::resource_schema;
use crate::{ResourceKind, ValidationError};

const CERT_ERROR: &str = "failed to parse cert: PEM_read_bio_X509_AUX() failed";
const KEY_ERROR: &str = "failed to parse key: PEM_read_bio_PrivateKey() failed";

/// `secret.check_secret_uri`: a `$secret://` or `$env://` reference.
pub(crate) fn is_secret_uri(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| s.starts_with("$secret://") || s.to_uppercase().starts_with("$ENV://"))
}

/// The DER bodies of the PEM blocks in `text` whose label is one of `labels`.
fn pem_bodies(text: &str, labels: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            break;
        };
        if labels.contains(&label) {
            let b64: String = body_start[..body_end]
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
                out.push(der);
            }
        }
        rest = &body_start[body_end + end_marker.len()..];
    }
    out
}

/// Whether `der` is one whole DER SEQUENCE: its length header matches the bytes present, so
/// a truncated PEM (APISIX's "bad cert" tests) is refused.
fn is_der_sequence(der: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (der.first(), der.get(1)) else {
        return false;
    };
    let (header, content) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || der.len() < 2 + n {
            return false;
        }
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    content > 0 && header + content == der.len()
}

fn cert_parses(text: &str) -> bool {
    pem_bodies(
        text,
        &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"],
    )
    .iter()
    .any(|d| is_der_sequence(d))
}

fn key_parses(text: &str) -> bool {
    pem_bodies(
        text,
        &[
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "DSA PRIVATE KEY",
        ],
    )
    .iter()
    .any(|d| is_der_sequence(d))
}

/// `apisix.ssl.validate(cert, key)`: the cert must parse; the key, when given, must be PEM.
/// APISIX first decrypts a key that does not start with `---` with the keyring: the Admin API
/// does that before validating (`Mode::Write`), so an encrypted key here failed to decrypt. A
/// stored object (`Mode::Stored`) keeps its key encrypted at rest; it is decrypted, and a
/// failure reported, where the key is used (the gateway's TLS layer).
pub(crate) fn validate_pair(
    cert: Option<&Value>,
    key: Option<&Value>,
    mode: Mode,
) -> Result<(), String> {
    if !cert.and_then(Value::as_str).is_some_and(cert_parses) {
        return Err(CERT_ERROR.to_owned());
    }
    let Some(key) = key else { return Ok(()) };
    let Some(key) = key.as_str() else {
        return Err(KEY_ERROR.to_owned());
    };
    if !key.starts_with("---") {
        if !mode.is_write() {
            return Ok(());
        }
        return Err("failed to decrypt previous encrypted key".to_owned());
    }
    if !key_parses(key) {
        return Err(KEY_ERROR.to_owned());
    }
    Ok(())
}

/// The SSL object's checks, after its schema (write mode only).
pub(crate) fn check_ssl(conf: &Value, mode: Mode) -> Result<(), ValidationError> {
    jsonschema::validate_at(resource_schema(ResourceKind::Ssls), conf)
        .map_err(|e| schema_error(mode, e))?;
    let (cert, key) = (conf.get("cert"), conf.get("key"));
    if !is_secret_uri(cert) && !is_secret_uri(key) {
        validate_pair(cert, key, mode).map_err(ValidationError::new)?;
    }
    if conf.get("type").and_then(Value::as_str) == Some("client") {
        return Ok(());
    }
    let certs = conf
        .get("certs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let keys = conf
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if certs.len() != keys.len() {
        return Err(ValidationError::new("mismatched number of certs and keys"));
    }
    for (i, (c, k)) in certs.iter().zip(keys).enumerate() {
        if !is_secret_uri(Some(c)) && !is_secret_uri(Some(k)) {
            validate_pair(Some(c), Some(k), mode).map_err(|e| {
                ValidationError::new(format!("failed to handle cert-key pair[{}]: {e}", i + 1))
            })?;
        }
    }
    if let Some(client) = conf.get("client").filter(|c| c.is_object()) {
        let ca = client.get("ca");
        if !is_secret_uri(ca) {
            validate_pair(ca, None, mode).map_err(|e| {
                ValidationError::new(format!("failed to validate client_cert: {e}"))
            })?;
        }
    }
    Ok(())
}
