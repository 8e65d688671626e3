//! `${{ENV}}` substitution cannot change the structure of `conf/config.yaml` (issue #19): a
//! variable's value is substituted into the parsed value, so a newline, `: ` or `#` in it stays
//! part of one string instead of adding keys or cutting the value at a comment. Runs the real
//! binary (`apisix-gateway test`) with the variable in its environment.

use std::process::Output;

use tokio::process::Command;

/// `apisix-gateway test` on a config whose `apisix.proxy_mode` is `${{GW_TEST_MODE}}`.
async fn test_config_with_mode(mode: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let file = conf.join("config.yaml");
    std::fs::write(&file, "apisix:\n  proxy_mode: ${{GW_TEST_MODE}}\n").expect("write config");
    let run = Command::new(env!("CARGO_BIN_EXE_apisix-gateway"))
        .args(["test", "-c", file.to_str().expect("utf-8 path")])
        .env_remove("RUST_LOG")
        .env("GW_TEST_MODE", mode)
        .output();
    testkit::wait::within("apisix-gateway test", run)
        .await
        .expect("apisix-gateway runs")
}

#[tokio::test]
async fn a_variable_holding_a_newline_and_a_key_stays_one_value() {
    let out = test_config_with_mode("stream\nstream_plugins: []").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the value is not a proxy mode: {stderr}"
    );
    assert!(
        stderr.contains(r#"apisix.proxy_mode: invalid value "stream\nstream_plugins: []""#),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_variable_holding_a_comment_sign_is_not_cut_at_it() {
    let out = test_config_with_mode("http&stream # trailing").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"invalid value "http&stream # trailing""#),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_plain_variable_still_sets_the_value() {
    let out = test_config_with_mode("http&stream").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("test is successful"), "{stderr}");
}
