//! Private keys at rest: the Admin API stores SSL `key`/`keys` and upstream `tls.client_key`
//! AES-encrypted with `apisix.data_encryption.keyring` (as APISIX does), accepts a key that is
//! already encrypted, keeps keys encrypted through PATCH, and stores them as given when
//! `enable_encrypt_fields` is off (an empty keyring).

mod admin_support;
mod tls_support;

use admin_support::Server;
use apisix_gateway::config::DEFAULT_KEYRING;
use apisix_gateway::tls::keyring::decrypt_key;
use serde_json::{json, Value};
use tls_support::Ca;

fn keyring() -> Vec<String> {
    DEFAULT_KEYRING.iter().map(|k| k.to_string()).collect()
}

async fn encrypting_server() -> Server {
    Server::start_with(|config| config.ssl.keyring = keyring()).await
}

fn stored(server: &Server, key: &str) -> Value {
    server
        .store
        .dump()
        .get(key)
        .map(|kv| kv.value.clone())
        .unwrap_or_else(|| panic!("{key} is stored"))
}

fn assert_encrypted_as(stored: &Value, pem: &str) {
    let text = stored.as_str().expect("a string key");
    assert!(!text.starts_with("---"), "stored in clear: {text}");
    assert_eq!(decrypt_key(text, &keyring()).as_deref(), Some(pem));
}

#[tokio::test]
async fn ssl_keys_are_stored_encrypted_and_stay_encrypted_through_patch() {
    let server = encrypting_server().await;
    let ca = Ca::new("test ca");
    let (a, b) = (ca.leaf(&["a.test"]), ca.leaf(&["b.test"]));
    let body = json!({
        "cert": a.cert_pem, "key": a.key_pem, "snis": ["a.test"],
        "certs": [b.cert_pem], "keys": [b.key_pem],
    });
    let put = server
        .call("PUT", "/apisix/admin/ssls/1", Some(&body))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let value = stored(&server, "/apisix/ssls/1");
    assert_encrypted_as(&value["key"], &a.key_pem);
    assert_encrypted_as(&value["keys"][0], &b.key_pem);
    assert!(!put.text.contains("PRIVATE KEY"), "reply shows a clear key");

    // PATCH another field: the merged object validates and the keys stay encrypted.
    let patch = json!({"snis": ["a.test", "c.test"]});
    let answer = server
        .call("PATCH", "/apisix/admin/ssls/1", Some(&patch))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let value = stored(&server, "/apisix/ssls/1");
    assert_eq!(value["snis"], json!(["a.test", "c.test"]));
    assert_encrypted_as(&value["key"], &a.key_pem);
    assert_encrypted_as(&value["keys"][0], &b.key_pem);

    // PATCH the key itself with a new clear PEM: stored encrypted.
    let c = ca.leaf(&["a.test"]);
    let patch = json!({"cert": c.cert_pem, "key": c.key_pem});
    let answer = server
        .call("PATCH", "/apisix/admin/ssls/1", Some(&patch))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_encrypted_as(&stored(&server, "/apisix/ssls/1")["key"], &c.key_pem);
}

#[tokio::test]
async fn an_already_encrypted_key_is_accepted_and_stored_unchanged() {
    let server = encrypting_server().await;
    let leaf = Ca::new("test ca").leaf(&["a.test"]);
    let first = json!({"cert": leaf.cert_pem, "key": leaf.key_pem, "snis": ["a.test"]});
    let put = server
        .call("PUT", "/apisix/admin/ssls/1", Some(&first))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let encrypted = stored(&server, "/apisix/ssls/1")["key"].clone();

    // A copy of the stored object (as another gateway or a backup has it) is a valid write.
    let copy = json!({"cert": leaf.cert_pem, "key": encrypted, "snis": ["a.test"]});
    let put = server
        .call("PUT", "/apisix/admin/ssls/2", Some(&copy))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    assert_eq!(stored(&server, "/apisix/ssls/2")["key"], encrypted);

    // A key that no keyring entry decrypts is refused with APISIX's text, and nothing is stored.
    let garbage = "bm90IGEga2V5".repeat(12);
    let garbage = json!({"cert": leaf.cert_pem, "key": garbage, "snis": ["a.test"]});
    let put = server
        .call("PUT", "/apisix/admin/ssls/3", Some(&garbage))
        .await;
    assert_eq!(put.status, 400, "{}", put.text);
    assert!(
        put.text
            .contains("failed to decrypt previous encrypted key"),
        "{}",
        put.text
    );
    assert!(!server.store.dump().contains_key("/apisix/ssls/3"));
}

#[tokio::test]
async fn upstream_client_keys_are_stored_encrypted_inline_and_standalone() {
    let server = encrypting_server().await;
    let client = Ca::new("client ca").leaf(&["client"]);
    let tls = json!({"client_cert": client.cert_pem, "client_key": client.key_pem});
    let upstream = json!({"scheme": "tls", "nodes": {"127.0.0.1:1980": 1}, "tls": tls});
    let put = server
        .call("PUT", "/apisix/admin/upstreams/1", Some(&upstream))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    assert_encrypted_as(
        &stored(&server, "/apisix/upstreams/1")["tls"]["client_key"],
        &client.key_pem,
    );

    let route = json!({"upstream": upstream});
    let put = server
        .call("PUT", "/apisix/admin/stream_routes/1", Some(&route))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    let value = stored(&server, "/apisix/stream_routes/1");
    assert_encrypted_as(&value["upstream"]["tls"]["client_key"], &client.key_pem);
}

#[tokio::test]
async fn keys_are_stored_as_given_when_encryption_is_off() {
    let server = Server::start_with(|config| config.ssl.keyring.clear()).await;
    let leaf = Ca::new("test ca").leaf(&["a.test"]);
    let body = json!({"cert": leaf.cert_pem, "key": leaf.key_pem, "snis": ["a.test"]});
    let put = server
        .call("PUT", "/apisix/admin/ssls/1", Some(&body))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    assert_eq!(
        stored(&server, "/apisix/ssls/1")["key"],
        leaf.key_pem.as_str()
    );
}
