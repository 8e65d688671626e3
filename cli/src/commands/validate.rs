//! `validate -f FILE...`: local checks of standalone files with `model::validate`, printing
//! every error with its path (`stream_routes[1] (id 7): <msg>`). References between objects
//! (`upstream_id`, `service_id`) must resolve within the files, as in APISIX's standalone
//! mode; a dangling one gets the Admin API's message.

use model::validate::{check_stored, CheckContext};
use model::ResourceKind;
use serde_json::{json, Value};

use crate::args::FilesArgs;
use crate::context::Ctx;
use crate::files::load_files;
use crate::output::print_machine;

/// Runs the checks; exit 0 when every object is valid, 1 otherwise.
pub fn run(ctx: &Ctx, args: &FilesArgs) -> anyhow::Result<u8> {
    let parsed = load_files(&args.files)?;
    let mut check = CheckContext {
        stream_plugins: model::plugins::default_stream_plugins(),
        ..CheckContext::default()
    };
    for obj in &parsed.objects {
        check
            .refs
            .insert((obj.kind, obj.id.clone()), obj.value.clone());
    }
    let mut errors = parsed.errors.clone();
    for obj in &parsed.objects {
        let problem = match check_stored(obj.kind, &obj.id, &obj.value, &check) {
            Err(e) => Some(e.to_string()),
            Ok(()) => dangling_reference(&check, obj.kind, &obj.value),
        };
        if let Some(e) = problem {
            errors.push(format!("{}: {e}", obj.path()));
        }
    }
    if ctx.machine() {
        print_machine(
            &json!({"valid": errors.is_empty(), "objects": parsed.objects.len(), "errors": errors}),
            ctx.output,
        )?;
    } else if errors.is_empty() {
        println!("valid: {} objects", parsed.objects.len());
    } else {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("invalid: {} errors", errors.len());
    }
    Ok(u8::from(!errors.is_empty()))
}

/// The Admin API's error for the first `upstream_id`/`service_id` that names no object in the
/// files: `failed to fetch upstream info by upstream id [3], response code: 404`.
fn dangling_reference(check: &CheckContext, kind: ResourceKind, value: &Value) -> Option<String> {
    let fields: &[(&str, ResourceKind)] = match kind {
        ResourceKind::StreamRoutes => &[
            ("upstream_id", ResourceKind::Upstreams),
            ("service_id", ResourceKind::Services),
        ],
        ResourceKind::Services => &[("upstream_id", ResourceKind::Upstreams)],
        _ => &[],
    };
    fields.iter().find_map(|(field, target)| {
        let id = value.get(*field).and_then(model::types::id_string)?;
        if check.refs.contains_key(&(*target, id.clone())) {
            return None;
        }
        let name = target.singular();
        Some(format!(
            "failed to fetch {name} info by {name} id [{id}], response code: 404"
        ))
    })
}
