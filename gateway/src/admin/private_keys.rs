//! Private keys at rest: the Admin API encrypts them before they reach the store, as APISIX
//! does with `apisix.data_encryption.keyring` (REFERENCE.md §1.1, §2.6): an SSL object's `key`
//! and `keys[]`, and `tls.client_key` of an upstream (also inline in a stream route or service).
//!
//! Only values that are still PEM (`---` prefix) are encrypted, so a write is idempotent and an
//! already-encrypted value from the store passes through unchanged. PATCH decrypts the stored
//! object first, so the merged result is validated as plain PEM, then encrypts it again. With
//! `enable_encrypt_fields: false` the keyring is empty and keys are stored as given.

use model::ResourceKind;
use serde_json::Value;

use crate::tls::keyring::{decrypt_key, encrypt_key};

/// Encrypts every plain-PEM private key of `value` (an object of `kind`) with `keyring`.
pub(crate) fn encrypt(kind: ResourceKind, value: &mut Value, keyring: &[String]) {
    if keyring.is_empty() {
        return;
    }
    for_each_private_key(kind, value, |key| {
        if key.starts_with("---") {
            if let Some(encrypted) = encrypt_key(key, keyring) {
                *key = encrypted;
            }
        }
    });
}

/// Decrypts every encrypted private key of `value` that `keyring` can decrypt; the others stay
/// as they are (and then fail validation as APISIX's "failed to decrypt previous encrypted key").
pub(crate) fn decrypt(kind: ResourceKind, value: &mut Value, keyring: &[String]) {
    for_each_private_key(kind, value, |key| {
        if !key.starts_with("---") {
            if let Some(plain) = decrypt_key(key, keyring) {
                *key = plain;
            }
        }
    });
}

/// Calls `f` on each private-key string of an object of `kind`.
fn for_each_private_key(kind: ResourceKind, value: &mut Value, mut f: impl FnMut(&mut String)) {
    let mut visit = |slot: Option<&mut Value>| {
        if let Some(Value::String(key)) = slot {
            f(key);
        }
    };
    match kind {
        ResourceKind::Ssls => {
            visit(value.get_mut("key"));
            if let Some(Value::Array(keys)) = value.get_mut("keys") {
                for key in keys {
                    visit(Some(key));
                }
            }
        }
        ResourceKind::Upstreams => visit(client_key(value)),
        ResourceKind::StreamRoutes | ResourceKind::Services => {
            visit(value.get_mut("upstream").and_then(client_key));
        }
        ResourceKind::PluginMetadata => {}
    }
}

fn client_key(upstream: &mut Value) -> Option<&mut Value> {
    upstream.get_mut("tls")?.get_mut("client_key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    fn ring() -> Vec<String> {
        vec!["qeddd145sfvddff3".into()]
    }

    #[test]
    fn ssl_key_and_keys_are_encrypted_and_decrypt_back() {
        let original = json!({"cert": "c", "key": PEM, "keys": [PEM, PEM], "certs": ["c", "c"]});
        let mut value = original.clone();
        encrypt(ResourceKind::Ssls, &mut value, &ring());
        for stored in [&value["key"], &value["keys"][0], &value["keys"][1]] {
            let text = stored.as_str().expect("string");
            assert!(!text.starts_with("---"), "still plain: {text}");
        }
        assert_eq!(value["cert"], "c", "certificates stay readable");
        decrypt(ResourceKind::Ssls, &mut value, &ring());
        assert_eq!(value, original);
    }

    #[test]
    fn encryption_is_idempotent() {
        let mut value = json!({"key": PEM});
        encrypt(ResourceKind::Ssls, &mut value, &ring());
        let once = value.clone();
        encrypt(ResourceKind::Ssls, &mut value, &ring());
        assert_eq!(value, once);
    }

    #[test]
    fn upstream_client_keys_are_encrypted_inline_and_standalone() {
        let mut upstream = json!({"tls": {"client_cert": "c", "client_key": PEM}});
        encrypt(ResourceKind::Upstreams, &mut upstream, &ring());
        assert_ne!(upstream["tls"]["client_key"], PEM);

        let mut route = json!({"upstream": {"tls": {"client_cert": "c", "client_key": PEM}}});
        encrypt(ResourceKind::StreamRoutes, &mut route, &ring());
        assert_ne!(route["upstream"]["tls"]["client_key"], PEM);
        decrypt(ResourceKind::StreamRoutes, &mut route, &ring());
        assert_eq!(route["upstream"]["tls"]["client_key"], PEM);
    }

    #[test]
    fn empty_keyring_stores_keys_as_given() {
        let mut value = json!({"key": PEM});
        encrypt(ResourceKind::Ssls, &mut value, &[]);
        assert_eq!(value["key"], PEM);
    }
}
