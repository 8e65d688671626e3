//! SSL private keys at rest: APISIX stores `key`/`keys` (and `upstream.tls.client_key`)
//! AES-128-CBC encrypted and base64 encoded when `apisix.data_encryption.enable_encrypt_fields`
//! is on, trying each key of `apisix.data_encryption.keyring` in turn (each keyring entry is
//! both the AES key and the IV; its first 16 bytes are used). A value that already looks like a
//! PEM (`---` prefix) is taken as is, so plain keys written by other tools keep working.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;

type Decryptor = cbc::Decryptor<aes::Aes128>;
type Encryptor = cbc::Encryptor<aes::Aes128>;

/// The 16-byte key/IV of a keyring entry, `None` when it is shorter.
fn key_of(entry: &str) -> Option<[u8; 16]> {
    entry.as_bytes().get(..16)?.try_into().ok()
}

/// The PEM behind a stored key: the value itself when it is a PEM, else the decryption with the
/// first keyring entry that yields a PEM. `None` when nothing decrypts it.
pub fn decrypt_key(stored: &str, keyring: &[String]) -> Option<String> {
    if stored.starts_with("---") {
        return Some(stored.to_owned());
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(stored.trim())
        .ok()?;
    keyring.iter().find_map(|entry| {
        let key = key_of(entry)?;
        let mut buf = data.clone();
        let plain = Decryptor::new(&key.into(), &key.into())
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .ok()?;
        let text = std::str::from_utf8(plain).ok()?;
        text.contains("-----BEGIN").then(|| text.to_owned())
    })
}

/// Encrypts `pem` with the first usable keyring entry, as APISIX's Admin API stores it.
/// `None` when the keyring has no entry of at least 16 bytes.
pub fn encrypt_key(pem: &str, keyring: &[String]) -> Option<String> {
    let key = keyring.iter().find_map(|entry| key_of(entry))?;
    let mut buf = vec![0u8; pem.len() + 16];
    buf[..pem.len()].copy_from_slice(pem.as_bytes());
    let cipher = Encryptor::new(&key.into(), &key.into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, pem.len())
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(cipher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Vec<String> {
        vec!["qeddd145sfvddff3".into(), "edd1c9f0985e76a2".into()]
    }

    #[test]
    fn encrypted_key_decrypts_with_any_keyring_entry() {
        let pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
        let stored = encrypt_key(pem, &ring()).expect("encrypt");
        assert!(!stored.starts_with("---"));
        assert_eq!(decrypt_key(&stored, &ring()).as_deref(), Some(pem));
        // The entry that encrypted it may come second in a rotated keyring.
        let rotated = vec!["0123456789abcdef".to_owned(), ring()[0].clone()];
        assert_eq!(decrypt_key(&stored, &rotated).as_deref(), Some(pem));
        assert_eq!(decrypt_key(&stored, &["0123456789abcdef".into()]), None);
    }

    #[test]
    fn plain_pem_is_taken_as_is() {
        let pem = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n";
        assert_eq!(decrypt_key(pem, &[]).as_deref(), Some(pem));
        assert_eq!(decrypt_key("not base64 !!", &ring()), None);
    }
}
