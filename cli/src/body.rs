//! Builds request bodies from `put`/`create` flags: the `-f` file first (if any), then each
//! flag given sets its field on top (`--node` → `upstream.nodes` hash, `--plugin` → `plugins`,
//! `--label` → `labels`).

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use crate::args::{
    BodyFile, NodeFlags, ObjectFlags, ServiceFlags, SslFlags, StreamRouteFlags, UpstreamFlags,
};
use crate::files::read_body;

type Object = Map<String, Value>;

fn start(file: &BodyFile) -> anyhow::Result<Object> {
    match &file.file {
        Some(path) => read_body(path),
        None => Ok(Object::new()),
    }
}

fn set_opt<T: Into<Value> + Clone>(body: &mut Object, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), v.clone().into());
    }
}

fn merge_map(body: &mut Object, key: &str, entries: impl IntoIterator<Item = (String, Value)>) {
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        return;
    }
    let slot = body
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Object::new()));
    if !slot.is_object() {
        *slot = Value::Object(Object::new());
    }
    if let Value::Object(map) = slot {
        map.extend(entries);
    }
}

/// `-f`, then the name, description and labels on top.
fn start_object(flags: &ObjectFlags) -> anyhow::Result<Object> {
    let mut body = start(&flags.file)?;
    meta(&mut body, &flags.meta);
    Ok(body)
}

fn meta(body: &mut Object, m: &crate::args::MetaFlags) {
    set_opt(body, "name", &m.name);
    set_opt(body, "desc", &m.desc);
    merge_map(
        body,
        "labels",
        m.labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
    );
}

/// Applies `--node`/`--type` to `target` (an upstream object).
fn nodes_into(target: &mut Object, flags: &NodeFlags) {
    if !flags.nodes.is_empty() {
        let nodes: Object = flags
            .nodes
            .iter()
            .map(|n| (n.addr.clone(), json!(n.weight)))
            .collect();
        target.insert("nodes".into(), Value::Object(nodes));
    }
    set_opt(target, "type", &flags.lb_type);
}

/// Applies `--node`/`--type` to the inline `upstream` of a route or service.
fn inline_upstream(body: &mut Object, flags: &NodeFlags) -> anyhow::Result<()> {
    if flags.nodes.is_empty() && flags.lb_type.is_none() {
        return Ok(());
    }
    let slot = body
        .entry("upstream")
        .or_insert_with(|| Value::Object(Object::new()));
    let Value::Object(upstream) = slot else {
        bail!("the body's upstream is not an object");
    };
    nodes_into(upstream, flags);
    if !upstream.contains_key("nodes") {
        bail!("--type needs --node (or an upstream with nodes in the -f body)");
    }
    Ok(())
}

/// The last steps of a route or service body: the inline upstream flags, `--plugin`, then
/// [`non_empty`].
fn finish_with_upstream_and_plugins(
    mut body: Object,
    nodes: &NodeFlags,
    plugins: &[(String, Value)],
) -> anyhow::Result<Value> {
    inline_upstream(&mut body, nodes)?;
    merge_map(&mut body, "plugins", plugins.iter().cloned());
    non_empty(body)
}

fn id_value(id: &Option<String>) -> Option<Value> {
    id.as_ref().map(|s| Value::String(s.clone()))
}

/// The body of `stream-route put|create`.
pub fn stream_route(flags: &StreamRouteFlags) -> anyhow::Result<Value> {
    let mut body = start_object(&flags.object)?;
    set_opt(&mut body, "remote_addr", &flags.remote_addr);
    set_opt(&mut body, "server_addr", &flags.server_addr);
    set_opt(&mut body, "server_port", &flags.server_port);
    set_opt(&mut body, "sni", &flags.sni);
    set_opt(
        &mut body,
        "upstream_id",
        &id_value(&flags.attach.upstream_id),
    );
    set_opt(&mut body, "service_id", &id_value(&flags.service_id));
    finish_with_upstream_and_plugins(body, &flags.object.upstream, &flags.attach.plugins)
}

/// The body of `upstream put|create`.
pub fn upstream(flags: &UpstreamFlags) -> anyhow::Result<Value> {
    let mut body = start_object(&flags.object)?;
    nodes_into(&mut body, &flags.object.upstream);
    set_opt(&mut body, "retries", &flags.retries);
    set_opt(&mut body, "retry_timeout", &flags.retry_timeout);
    set_opt(&mut body, "hash_on", &flags.hash_on);
    set_opt(&mut body, "key", &flags.key);
    set_opt(&mut body, "scheme", &flags.scheme);
    non_empty(body)
}

/// The body of `service put|create`.
pub fn service(flags: &ServiceFlags) -> anyhow::Result<Value> {
    let mut body = start_object(&flags.object)?;
    set_opt(
        &mut body,
        "upstream_id",
        &id_value(&flags.attach.upstream_id),
    );
    finish_with_upstream_and_plugins(body, &flags.object.upstream, &flags.attach.plugins)
}

/// The body of `ssl put|create`: `--cert`/`--key` are PEM files read here.
pub fn ssl(flags: &SslFlags) -> anyhow::Result<Value> {
    let mut body = start(&flags.file)?;
    if let Some(path) = &flags.cert {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading certificate {}", path.display()))?;
        body.insert("cert".into(), Value::String(pem));
    }
    if let Some(path) = &flags.key {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading key {}", path.display()))?;
        body.insert("key".into(), Value::String(pem));
    }
    if !flags.snis.is_empty() {
        body.insert("snis".into(), json!(flags.snis));
    }
    set_opt(&mut body, "type", &flags.ssl_type);
    merge_map(
        &mut body,
        "labels",
        flags
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
    );
    non_empty(body)
}

/// The body of `plugin-metadata put` and `patch`: the file only.
pub fn from_file(file: &BodyFile) -> anyhow::Result<Value> {
    if file.file.is_none() {
        bail!("give the body with -f FILE (or -f - for stdin)");
    }
    Ok(Value::Object(start(file)?))
}

fn non_empty(body: Object) -> anyhow::Result<Value> {
    if body.is_empty() {
        bail!("nothing to write: give -f FILE or flags (see --help)");
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, StreamRouteAction, UpstreamAction, WriteAction};
    use clap::Parser;

    fn route_body(args: &[&str]) -> anyhow::Result<Value> {
        let mut argv = vec!["apisixctl", "sr", "put", "1"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).expect("parses");
        match cli.command {
            Command::StreamRoute {
                action: StreamRouteAction::Write(WriteAction::Put { body, .. }),
            } => stream_route(&body),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn route_flags_build_inline_upstream_plugins_and_labels() {
        let body = route_body(&[
            "--server-port",
            "9100",
            "--node",
            "10.0.0.1:80=2",
            "--node",
            "10.0.0.2:80",
            "--type",
            "chash",
            "--plugin",
            r#"limit-conn={"conn":1}"#,
            "--label",
            "team=core",
            "--remote-addr",
            "10.0.0.0/8",
            "--upstream-id",
            "7",
        ])
        .expect("builds");
        assert_eq!(
            body,
            json!({
                "labels": {"team": "core"},
                "remote_addr": "10.0.0.0/8",
                "server_port": 9100,
                "upstream_id": "7",
                "upstream": {"nodes": {"10.0.0.1:80": 2, "10.0.0.2:80": 1}, "type": "chash"},
                "plugins": {"limit-conn": {"conn": 1}}
            })
        );
    }

    #[test]
    fn flags_override_fields_of_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("r.yaml");
        std::fs::write(&file, "server_port: 1\nsni: a.com\nlabels: {a: b}\n").expect("write");
        let path = file.to_str().expect("utf-8 path");
        let body =
            route_body(&["-f", path, "--server-port", "2", "--label", "c=d"]).expect("builds");
        assert_eq!(body["server_port"], 2);
        assert_eq!(body["sni"], "a.com");
        assert_eq!(body["labels"], json!({"a": "b", "c": "d"}));
    }

    #[test]
    fn empty_body_and_type_without_nodes_are_refused() {
        assert!(route_body(&[]).is_err());
        assert!(route_body(&["--type", "chash"]).is_err());
    }

    #[test]
    fn upstream_flags_set_top_level_nodes() {
        let cli = Cli::try_parse_from([
            "apisixctl",
            "upstream",
            "put",
            "u1",
            "--node",
            "h:1",
            "--type",
            "least_conn",
            "--retries",
            "2",
        ])
        .expect("parses");
        let Command::Upstream {
            action: UpstreamAction::Put { body, .. },
        } = cli.command
        else {
            panic!("not an upstream put");
        };
        assert_eq!(
            upstream(&body).expect("builds"),
            json!({"nodes": {"h:1": 1}, "type": "least_conn", "retries": 2})
        );
    }
}
