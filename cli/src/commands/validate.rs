//! `validate -f FILE...`: local checks of standalone files with `model::validate`, printing
//! every error with its path (`stream_routes[1] (id 7): <msg>`). References between objects
//! (`upstream_id`, `service_id`) must resolve within the files, as in APISIX's standalone
//! mode; a dangling one gets the Admin API's message. Shadowed stream routes (among the valid
//! ones, in the order a standalone load gives them: by id) are warnings, which leave the exit
//! code alone.

use model::shadow::shadowed_stored;
use model::validate::{check_stored, CheckContext};
use model::ResourceKind;
use serde_json::{json, Value};

use crate::args::FilesArgs;
use crate::context::Ctx;
use crate::files::{load_files, FileObject};
use crate::output::{paint, print_machine, Tone};

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
    let mut invalid = Vec::new();
    for (i, obj) in parsed.objects.iter().enumerate() {
        let problem = match check_stored(obj.kind, &obj.id, &obj.value, &check) {
            Err(e) => Some(e.to_string()),
            Ok(()) => dangling_reference(&check, obj.kind, &obj.value),
        };
        if let Some(e) = problem {
            errors.push(format!("{}: {e}", obj.path()));
            invalid.push(i);
        }
    }
    let warnings = shadow_warnings(&parsed.objects, &invalid);
    if ctx.machine() {
        print_machine(
            &json!({"valid": errors.is_empty(), "objects": parsed.objects.len(), "errors": errors,
                    "warnings": warnings}),
            ctx.output,
        )?;
    } else {
        for w in &warnings {
            eprintln!("{} {w}", paint("warning:", Tone::Change, ctx.color));
        }
        if errors.is_empty() {
            println!("valid: {} objects", parsed.objects.len());
        } else {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("invalid: {} errors", errors.len());
        }
    }
    Ok(u8::from(!errors.is_empty()))
}

/// `stream_routes[1] (id 7): shadowed by stream_route 3: it never matches`, for the valid
/// stream routes (`invalid` holds the indexes of the others), loaded as one standalone file.
fn shadow_warnings(objects: &[FileObject], invalid: &[usize]) -> Vec<String> {
    let routes: Vec<&FileObject> = objects
        .iter()
        .enumerate()
        .filter(|(i, o)| o.kind == ResourceKind::StreamRoutes && !invalid.contains(i))
        .map(|(_, o)| o)
        .collect();
    shadowed_stored(routes.iter().map(|o| (o.id.as_str(), &o.value, 0)))
        .into_iter()
        .filter_map(|s| {
            let obj = routes.iter().find(|o| o.id == s.id)?;
            Some(format!(
                "{}: {}: it never matches",
                obj.path(),
                s.describe()
            ))
        })
        .collect()
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
