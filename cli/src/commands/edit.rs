//! `edit ID`: fetch the object, open it as YAML in `$VISUAL`/`$EDITOR` (default `vi`), check
//! the result locally with `model::validate::check_write` (referenced objects fetched from the
//! server), then put it. A rejected edit is kept in a file so no work is lost.

use std::io::Write;
use std::process::Command;

use anyhow::{bail, Context};
use model::validate::{check_write, references_of, CheckContext, WriteMethod};
use model::ResourceKind;
use serde_json::Value;

use super::upsert::{print_write, upsert, write_body};
use crate::context::Ctx;
use crate::files::parse_document;

/// Runs the edit cycle for `kind`/`id`.
pub async fn run(ctx: &Ctx, kind: ResourceKind, id: &str) -> anyhow::Result<u8> {
    let admin = ctx.admin()?;
    let item = admin.get(kind, id).await?;
    let mut original = item.value.clone();
    if let Value::Object(map) = &mut original {
        map.remove("create_time");
        map.remove("update_time");
    }
    let text = serde_norway::to_string(&original)?;
    let mut file = tempfile::Builder::new()
        .prefix(&format!("apisixctl-{}-", kind.dir()))
        .suffix(".yaml")
        .tempfile()
        .context("creating the edit file")?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    open_editor(file.path())?;
    let edited_text = std::fs::read_to_string(file.path()).context("reading the edited file")?;
    let edited = parse_document(&edited_text).context("the edited file")?;
    if edited == original {
        println!("{}/{id} unchanged (no edits)", kind.dir());
        return Ok(0);
    }

    let mut check = CheckContext {
        stream_plugins: admin
            .plugins_list()
            .await
            .unwrap_or_else(|_| model::plugins::default_stream_plugins()),
        ..CheckContext::default()
    };
    for (ref_kind, ref_id) in references_of(kind, &edited) {
        if let Some(found) = admin.get_opt(ref_kind, &ref_id).await? {
            check.refs.insert((ref_kind, ref_id), found.value);
        }
    }
    let body = write_body(&edited);
    if let Err(e) = check_write(kind, WriteMethod::Put, Some(id), Some(&body), &check) {
        let (_, kept) = file.keep().context("keeping the edit file")?;
        bail!(
            "{}/{id}: {e} (your edit is saved in {})",
            kind.dir(),
            kept.display()
        );
    }
    let (result, value) = upsert(&admin, kind, id, &body, false).await?;
    print_write(ctx, kind, id, result, value.as_ref(), false)?;
    Ok(0)
}

fn open_editor(path: &std::path::Path) -> anyhow::Result<()> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_owned());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("running editor {editor}"))?;
    if !status.success() {
        bail!("editor {editor} exited with {status}; nothing was written");
    }
    Ok(())
}
