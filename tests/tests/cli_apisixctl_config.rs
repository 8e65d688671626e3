//! `apisixctl config` named contexts against a real gateway: `set-context` writes the file
//! (given with `--config`, or under `$XDG_CONFIG_HOME`), `get-contexts` lists it with the
//! current one marked, `use-context` switches, and commands then reach the context's gateway.
//! Precedence is asserted on the binary: flag > environment > context.

use e2e::gateway::{run_ctl_env, CtlRun, Gateway};

fn assert_run(run: &CtlRun, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code\n{run}");
}

#[tokio::test]
async fn contexts_are_saved_listed_switched_and_used_after_flags_and_environment() {
    let gw = Gateway::start_default().await.expect("start gateway");
    let key = gw
        .config
        .admin_key
        .clone()
        .expect("the test gateway has an admin key");
    let (admin, control) = (gw.admin_base(), gw.control_base());
    let dead = format!("http://127.0.0.1:{}", e2e::ports::free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let file = cwd.join("ctx.yaml");
    let file_arg = file.to_str().expect("utf-8 path");
    let ctl = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--config", file_arg];
        all.extend_from_slice(args);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            run_ctl_env(cwd, &all, None, &env).await
        }
    };

    let empty = ctl(&["config", "get-contexts"], &[]).await;
    assert_run(&empty, 0);
    assert_eq!(empty.stdout, format!("no contexts in {file_arg}\n"));

    let set = ctl(
        &[
            "config",
            "set-context",
            "local",
            "--server",
            &admin,
            "--admin-key",
            &key,
            "--control",
            &control,
        ],
        &[],
    )
    .await;
    assert_run(&set, 0);
    assert_eq!(
        set.stdout,
        format!("context \"local\" created in {file_arg}\n")
    );
    assert_run(
        &ctl(&["config", "set-context", "down", "--server", &dead], &[]).await,
        0,
    );
    let text = std::fs::read_to_string(&file).expect("the config file was written");
    assert!(text.contains(&format!("admin-key: {key}")), "{text}");

    // No current context yet: the default server (nothing listens there in the test).
    let listed = ctl(&["config", "get-contexts"], &[]).await;
    assert_run(&listed, 0);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].starts_with("CURRENT  NAME"), "{listed}");
    assert!(!listed.stdout.contains('*'), "{listed}");

    let unknown = ctl(&["config", "use-context", "nope"], &[]).await;
    assert_run(&unknown, 1);
    assert_eq!(
        unknown.stderr,
        format!("error: no context named \"nope\" in {file_arg}\n")
    );
    let switched = ctl(&["config", "use-context", "local"], &[]).await;
    assert_run(&switched, 0);
    assert_eq!(switched.stdout, "switched to context \"local\"\n");
    let current = ctl(&["config", "current-context"], &[]).await;
    assert_eq!(current.stdout, "local\n");
    let listed = ctl(&["config", "get-contexts"], &[]).await;
    let marked: Vec<&str> = listed
        .stdout
        .lines()
        .filter(|l| l.starts_with('*'))
        .collect();
    assert_eq!(marked.len(), 1, "{listed}");
    assert!(
        marked[0].split_whitespace().eq([
            "*",
            "local",
            admin.as_str(),
            control.as_str(),
            "set",
            "-"
        ]),
        "{listed}"
    );

    // The context alone reaches the gateway, key included.
    let ping = ctl(&["ping"], &[]).await;
    assert_run(&ping, 0);
    assert!(
        ping.stdout
            .contains("key      ok accepted (from context local)"),
        "{ping}"
    );
    // --context picks another one.
    let other = ctl(&["--context", "down", "stream-route", "list"], &[]).await;
    assert_run(&other, 1);
    assert!(other.stderr.contains(&dead), "{other}");
    // Environment beats the context...
    let env_wins = ctl(
        &["stream-route", "list"],
        &[("APISIX_ADMIN_URL", dead.as_str())],
    )
    .await;
    assert_run(&env_wins, 1);
    assert!(env_wins.stderr.contains(&dead), "{env_wins}");
    // ...and the flag beats the environment.
    let flag_wins = ctl(
        &["--server", &admin, "stream-route", "list"],
        &[("APISIX_ADMIN_URL", dead.as_str())],
    )
    .await;
    assert_run(&flag_wins, 0);
    let env_key = ctl(&["ping"], &[("APISIX_ADMIN_KEY", "wrong")]).await;
    assert_run(&env_key, 1);
    assert!(
        env_key.stdout.contains("(from $APISIX_ADMIN_KEY)"),
        "{env_key}"
    );

    let deleted = ctl(&["config", "delete-context", "down"], &[]).await;
    assert_run(&deleted, 0);
    let left = ctl(&["-o", "json", "config", "get-contexts"], &[]).await;
    let json: serde_json::Value = serde_json::from_str(&left.stdout).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{"name": "local", "current": true, "server": admin,
                            "control": control, "admin_key_set": true,
                            "ca_cert_file": null, "tls_client_cert_file": null,
                            "tls_client_key_file": null, "tls_skip_verify": false}])
    );
}

#[tokio::test]
async fn without_config_flag_the_file_lives_under_xdg_config_home() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xdg = dir.path().join("xdg");
    let xdg_str = xdg.to_str().expect("utf-8 path");
    let run = run_ctl_env(
        dir.path(),
        &["config", "set-context", "ci", "--server", "http://gw:9180"],
        None,
        &[("XDG_CONFIG_HOME", xdg_str)],
    )
    .await;
    assert_run(&run, 0);
    let path = xdg.join("apisixctl/config.yaml");
    assert_eq!(
        run.stdout,
        format!("context \"ci\" created in {}\n", path.display())
    );
    let text = std::fs::read_to_string(&path).expect("written under XDG_CONFIG_HOME");
    assert!(text.contains("server: http://gw:9180"), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the file holds keys");
}
