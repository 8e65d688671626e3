//! CRUD of one resource kind: list, get, put (with created/updated/unchanged), create,
//! patch, delete; `edit` is in `super::edit`. Also [`upsert`], shared with `apply`/`sync`.

use model::client::{AdminClient, PutOutcome};
use model::ResourceKind;
use serde_json::{json, Value};

use crate::args::{CommonAction, OutputFormat};
use crate::compare::{unchanged, Selector};
use crate::context::Ctx;
use crate::output::{paint, print_machine, Tone};
use crate::views::resource_table;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    Created,
    Updated,
    Unchanged,
}

impl WriteResult {
    /// `created`, `updated`, `unchanged`.
    pub fn word(self) -> &'static str {
        match self {
            WriteResult::Created => "created",
            WriteResult::Updated => "updated",
            WriteResult::Unchanged => "unchanged",
        }
    }

    /// The colour of the word.
    pub fn tone(self) -> Tone {
        match self {
            WriteResult::Created => Tone::Good,
            WriteResult::Updated => Tone::Change,
            WriteResult::Unchanged => Tone::Good,
        }
    }
}

/// `body` without `id` (the id is in the path) and without server timestamps.
pub fn write_body(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "id" | "create_time" | "update_time"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// PUTs `body` unless the live object already equals it. With `dry_run`, only says what
/// would happen. Returns the result and the stored value (when known).
pub async fn upsert(
    admin: &AdminClient,
    kind: ResourceKind,
    id: &str,
    body: &Value,
    dry_run: bool,
) -> anyhow::Result<(WriteResult, Option<Value>)> {
    let live = admin.get_opt(kind, id).await?;
    if let Some(item) = &live {
        if unchanged(kind, body, &item.value) {
            return Ok((WriteResult::Unchanged, Some(item.value.clone())));
        }
    }
    if dry_run {
        let would = if live.is_some() {
            WriteResult::Updated
        } else {
            WriteResult::Created
        };
        return Ok((would, None));
    }
    let put = admin.put(kind, id, &write_body(body)).await?;
    let result = match put.outcome {
        PutOutcome::Created => WriteResult::Created,
        PutOutcome::Replaced => WriteResult::Updated,
    };
    Ok((result, Some(put.item.value)))
}

/// Prints one write result in the chosen format.
pub fn print_write(
    ctx: &Ctx,
    kind: ResourceKind,
    id: &str,
    result: WriteResult,
    value: Option<&Value>,
    dry_run: bool,
) -> anyhow::Result<()> {
    if ctx.machine() {
        let mut out = json!({"kind": kind.dir(), "id": id, "result": result.word()});
        if dry_run {
            out["dry_run"] = json!(true);
        }
        if let Some(v) = value {
            out["value"] = v.clone();
        }
        print_machine(&out, ctx.output)
    } else {
        let word = if dry_run && result != WriteResult::Unchanged {
            format!("would be {}", result.word())
        } else {
            result.word().to_owned()
        };
        println!(
            "{}/{id} {}",
            kind.dir(),
            paint(&word, result.tone(), ctx.color)
        );
        Ok(())
    }
}

/// `put ID`.
pub async fn put(ctx: &Ctx, kind: ResourceKind, id: &str, body: Value) -> anyhow::Result<u8> {
    let admin = ctx.admin()?;
    let (result, value) = upsert(&admin, kind, id, &body, false).await?;
    print_write(ctx, kind, id, result, value.as_ref(), false)?;
    Ok(0)
}

/// `create`: POST, the server picks the id.
pub async fn create(ctx: &Ctx, kind: ResourceKind, body: Value) -> anyhow::Result<u8> {
    let item = ctx.admin()?.post(kind, &write_body(&body)).await?;
    let id = item
        .value
        .get("id")
        .and_then(model::types::id_string)
        .unwrap_or_else(|| item.key.rsplit('/').next().unwrap_or_default().to_owned());
    print_write(
        ctx,
        kind,
        &id,
        WriteResult::Created,
        Some(&item.value),
        false,
    )?;
    Ok(0)
}

/// list, get, patch, delete, edit.
pub async fn common(ctx: &Ctx, kind: ResourceKind, action: CommonAction) -> anyhow::Result<u8> {
    match action {
        CommonAction::List { selector } => list(ctx, kind, selector.as_deref()).await,
        CommonAction::Get { id } => {
            let item = ctx.admin()?.get(kind, &id).await?;
            show(ctx, kind, &[&item.value], true)
        }
        CommonAction::Patch { id, file } => {
            let body = crate::body::from_file(&file)?;
            let item = ctx.admin()?.patch(kind, &id, &body).await?;
            print_write(
                ctx,
                kind,
                &id,
                WriteResult::Updated,
                Some(&item.value),
                false,
            )?;
            Ok(0)
        }
        CommonAction::Delete { id, force } => {
            let deleted = ctx.admin()?.delete(kind, &id, force).await?;
            if ctx.machine() {
                print_machine(&serde_json::to_value(&deleted)?, ctx.output)?;
            } else {
                println!(
                    "{}/{id} {}",
                    kind.dir(),
                    paint("deleted", Tone::Change, ctx.color)
                );
            }
            Ok(0)
        }
        CommonAction::Edit { id } => super::edit::run(ctx, kind, &id).await,
    }
}

async fn list(ctx: &Ctx, kind: ResourceKind, selector: Option<&str>) -> anyhow::Result<u8> {
    let selector = Selector::parse(selector)?;
    let list = ctx.admin()?.list(kind).await?;
    let values: Vec<&Value> = list
        .list
        .iter()
        .map(|item| &item.value)
        .filter(|v| selector.matches(v))
        .collect();
    show(ctx, kind, &values, false)
}

/// Prints objects: a table, or a JSON/YAML array (a single object for `get`).
fn show(ctx: &Ctx, kind: ResourceKind, values: &[&Value], single: bool) -> anyhow::Result<u8> {
    match ctx.output {
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = ctx.output == OutputFormat::Wide;
            print!("{}", resource_table(kind, values, wide).render());
        }
        format => {
            let out = match values {
                [one] if single => (*one).clone(),
                many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
            };
            print_machine(&out, format)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_body_drops_id_and_timestamps() {
        let body = json!({"id": 1, "create_time": 1, "update_time": 2, "server_port": 9});
        assert_eq!(write_body(&body), json!({"server_port": 9}));
    }
}
