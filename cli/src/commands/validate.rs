//! `validate -f FILE...`: local checks of standalone files with `model::validate`, printing
//! every error with its path (`stream_routes[1] (id 7): <msg>`). References between objects
//! are resolved within the files.

use model::validate::{check_stored, CheckContext};
use serde_json::json;

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
        if let Err(e) = check_stored(obj.kind, &obj.id, &obj.value, &check) {
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
