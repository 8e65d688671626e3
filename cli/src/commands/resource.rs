//! CRUD of one resource kind: list, get, put (with created/updated/unchanged), create,
//! patch, delete; `edit` is in `super::edit`, the write helpers in `super::upsert`.

use model::ResourceKind;
use serde_json::Value;

use super::upsert::{print_write, upsert, write_body, WriteResult};
use crate::args::{CommonAction, OutputFormat};
use crate::compare::Selector;
use crate::context::Ctx;
use crate::output::{paint, print_machine, Tone};
use crate::views::resource_table;

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
    if kind == ResourceKind::StreamRoutes && ctx.output == OutputFormat::Wide {
        // Every route counts, selected or not: an unselected one can shadow a selected one.
        let mut table = resource_table(kind, &values, true);
        super::shadowing::add_column(&mut table, &super::shadowing::of_admin_list(&list.list));
        print!("{}", table.render());
        return Ok(0);
    }
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
