//! Writing one object: [`upsert`] (PUT unless the live object already equals it, with a dry
//! run) and [`print_write`] (created / updated / unchanged). Shared by `put`, `edit`, `apply`
//! and `sync`.

use model::client::{AdminClient, PutOutcome};
use model::ResourceKind;
use serde_json::{json, Value};

use crate::compare::unchanged;
use crate::context::Ctx;
use crate::output::{paint, print_machine, Tone};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_body_drops_id_and_timestamps() {
        let body = json!({"id": 1, "create_time": 1, "update_time": 2, "server_port": 9});
        assert_eq!(write_body(&body), json!({"server_port": 9}));
    }
}
