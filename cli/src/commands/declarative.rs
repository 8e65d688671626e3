//! `apply`, `diff`, `sync`, `dump`: the server versus APISIX standalone files.
//!
//! Writes go in dependency order (upstreams, services, ssls, plugin metadata, then stream
//! routes); `sync --prune` deletes in the reverse order, after the writes, and only objects
//! whose labels match `--selector`.

use std::collections::HashSet;

use anyhow::bail;
use model::ResourceKind;
use serde_json::{json, Map, Value};

use super::upsert::{print_write, upsert};
use crate::args::{DumpArgs, FilesArgs, OutputFormat, SyncArgs};
use crate::compare::{comparable, desired_view, diff_fields, DiffLine, Selector};
use crate::context::Ctx;
use crate::files::{load_files, FileObject};
use crate::output::{paint, print_machine, Tone};

/// Loads the files, failing with every shape error; objects sorted for writing.
fn load_sorted(files: &FilesArgs) -> anyhow::Result<Vec<FileObject>> {
    let parsed = load_files(&files.files)?;
    if !parsed.errors.is_empty() {
        bail!("invalid file:\n  {}", parsed.errors.join("\n  "));
    }
    let mut objects = parsed.objects;
    objects.sort_by_key(|o| ResourceKind::ALL.iter().position(|k| *k == o.kind));
    Ok(objects)
}

/// Upserts every object; returns how many failed.
async fn write_all(ctx: &Ctx, objects: &[FileObject], dry_run: bool) -> anyhow::Result<usize> {
    let admin = ctx.admin()?;
    let mut failed = 0;
    for obj in objects {
        match upsert(&admin, obj.kind, &obj.id, &obj.value, dry_run).await {
            Ok((result, value)) => {
                print_write(ctx, obj.kind, &obj.id, result, value.as_ref(), dry_run)?
            }
            Err(e)
                if e.downcast_ref::<model::client::ClientError>()
                    .is_some_and(|c| c.is_transport()) =>
            {
                return Err(e)
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}/{}: {e:#}", obj.kind.dir(), obj.id);
            }
        }
    }
    Ok(failed)
}

/// `apply -f FILE...`.
pub async fn apply(ctx: &Ctx, files: &FilesArgs) -> anyhow::Result<u8> {
    let objects = load_sorted(files)?;
    let failed = write_all(ctx, &objects, false).await?;
    super::shadowing::warn_after_writes(&ctx.admin()?, ctx.color).await;
    if failed > 0 {
        bail!("{failed} of {} objects failed", objects.len());
    }
    Ok(0)
}

/// `sync -f FILE... [--prune] [--selector] [--dry-run]`.
pub async fn sync(ctx: &Ctx, args: &SyncArgs) -> anyhow::Result<u8> {
    let selector = Selector::parse(args.selector.as_deref())?;
    let objects = load_sorted(&args.files)?;
    let mut failed = write_all(ctx, &objects, args.dry_run).await?;
    if args.prune {
        let admin = ctx.admin()?;
        let wanted: HashSet<(ResourceKind, &str)> =
            objects.iter().map(|o| (o.kind, o.id.as_str())).collect();
        for kind in ResourceKind::ALL.iter().rev() {
            for item in list_tolerant(&admin, *kind).await? {
                let Some(id) = item.value.get("id").and_then(model::types::id_string) else {
                    continue;
                };
                if wanted.contains(&(*kind, id.as_str())) || !selector.matches(&item.value) {
                    continue;
                }
                if args.dry_run {
                    print_deleted(ctx, *kind, &id, true)?;
                    continue;
                }
                match admin.delete(*kind, &id, false).await {
                    Ok(_) => print_deleted(ctx, *kind, &id, false)?,
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}/{id}: {e}", kind.dir());
                    }
                }
            }
        }
    }
    if !args.dry_run {
        super::shadowing::warn_after_writes(&ctx.admin()?, ctx.color).await;
    }
    if failed > 0 {
        bail!("{failed} operations failed");
    }
    Ok(0)
}

fn print_deleted(ctx: &Ctx, kind: ResourceKind, id: &str, dry_run: bool) -> anyhow::Result<()> {
    if ctx.machine() {
        print_machine(
            &json!({"kind": kind.dir(), "id": id, "result": "deleted", "dry_run": dry_run}),
            ctx.output,
        )
    } else {
        let word = if dry_run {
            "would be deleted"
        } else {
            "deleted"
        };
        println!("{}/{id} {}", kind.dir(), paint(word, Tone::Bad, ctx.color));
        Ok(())
    }
}

/// `diff -f FILE...`: exit 0 in sync, 1 when something differs.
pub async fn diff(ctx: &Ctx, files: &FilesArgs) -> anyhow::Result<u8> {
    let objects = load_sorted(files)?;
    let admin = ctx.admin()?;
    let mut report = Vec::new();
    let mut differs = false;
    for obj in &objects {
        let live = admin.get_opt(obj.kind, &obj.id).await?;
        let (status, lines) = match &live {
            None => ("new", diff_fields(&Value::Null, &desired_view(&obj.value))),
            Some(item) => {
                let (desired, live) = comparable(obj.kind, &obj.value, &item.value);
                let lines = diff_fields(&live, &desired);
                (if lines.is_empty() { "same" } else { "changed" }, lines)
            }
        };
        differs |= status != "same";
        report.push((obj, status, lines));
    }
    if ctx.machine() {
        let objects: Vec<Value> = report
            .iter()
            .map(|(obj, status, lines)| {
                let changes: Vec<Value> = lines
                    .iter()
                    .map(|l| match l {
                        DiffLine::Removed(p, v) => {
                            json!({"op": "-", "path": p, "value": as_json(v)})
                        }
                        DiffLine::Added(p, v) => json!({"op": "+", "path": p, "value": as_json(v)}),
                    })
                    .collect();
                json!({"kind": obj.kind.dir(), "id": obj.id, "status": status, "changes": changes})
            })
            .collect();
        print_machine(
            &json!({"in_sync": !differs, "objects": objects}),
            ctx.output,
        )?;
    } else {
        for (obj, status, lines) in &report {
            if *status == "same" {
                continue;
            }
            let name = format!("{}/{}", obj.kind.dir(), obj.id);
            let live_name = if *status == "new" {
                "/dev/null".to_owned()
            } else {
                format!("server {name}")
            };
            println!("--- {live_name}");
            println!("+++ file {name}");
            for line in lines {
                match line {
                    DiffLine::Removed(p, v) => {
                        println!("{}", paint(&format!("-{p}: {v}"), Tone::Bad, ctx.color))
                    }
                    DiffLine::Added(p, v) => {
                        println!("{}", paint(&format!("+{p}: {v}"), Tone::Good, ctx.color))
                    }
                }
            }
        }
        if !differs {
            println!("in sync ({} objects)", objects.len());
        }
    }
    Ok(u8::from(differs))
}

/// `dump [--file FILE] [--selector]`: an APISIX standalone file of the server's objects.
pub async fn dump(ctx: &Ctx, args: &DumpArgs) -> anyhow::Result<u8> {
    let selector = Selector::parse(args.selector.as_deref())?;
    let admin = ctx.admin()?;
    let mut doc = Map::new();
    let order = [
        ResourceKind::StreamRoutes,
        ResourceKind::Upstreams,
        ResourceKind::Services,
        ResourceKind::Ssls,
        ResourceKind::PluginMetadata,
    ];
    for kind in order {
        let values: Vec<Value> = list_tolerant(&admin, kind)
            .await?
            .into_iter()
            .map(|item| strip_times(item.value))
            .filter(|v| selector.matches(v))
            .collect();
        if kind == ResourceKind::Ssls && values.iter().any(|v| v.get("key").is_none()) {
            eprintln!("warning: the server does not return SSL private keys; add `key` to the dumped ssls before loading the file");
        }
        if kind == ResourceKind::PluginMetadata && values.is_empty() {
            continue;
        }
        doc.insert(kind.dir().to_owned(), Value::Array(values));
    }
    let doc = Value::Object(doc);
    let text = match ctx.output {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&doc)?),
        _ => format!("{}#END\n", serde_norway::to_string(&doc)?),
    };
    match &args.file {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// Lists `kind`; a server that refuses to list plugin metadata (a 4xx) is warned about and
/// treated as having none, so dump and prune still work against it.
async fn list_tolerant(
    admin: &model::client::AdminClient,
    kind: ResourceKind,
) -> anyhow::Result<Vec<model::envelope::Item>> {
    match admin.list(kind).await {
        Ok(list) => Ok(list.list),
        Err(e) if kind == ResourceKind::PluginMetadata && e.status().is_some_and(|s| s < 500) => {
            eprintln!("warning: skipping plugin_metadata: {e}");
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

/// A diff value (JSON text) back as JSON.
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The object for a standalone file: `id` first, without server timestamps.
fn strip_times(v: Value) -> Value {
    let Value::Object(map) = v else {
        return v;
    };
    let mut out = Map::new();
    if let Some(id) = map.get("id") {
        out.insert("id".to_owned(), id.clone());
    }
    for (k, val) in map {
        if !matches!(k.as_str(), "id" | "create_time" | "update_time") {
            out.insert(k, val);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumped_objects_start_with_id_and_lose_timestamps() {
        let v = strip_times(json!({"name": "n", "id": "1", "create_time": 1, "update_time": 2}));
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"{"id":"1","name":"n"}"#
        );
    }
}
