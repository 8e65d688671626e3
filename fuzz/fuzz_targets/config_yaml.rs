//! The `conf/config.yaml` loader on arbitrary text, `${{ENV}}` substitution included: it
//! never panics. The input is `<variable value>\0<config text>`: the value is what every
//! `${{VAR}}` in the text resolves to, so substitution sees hostile values as well as hostile
//! documents.
#![no_main]

use std::path::Path;

use apisix_gateway::config::{self, env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (value, text) = input.split_once('\0').unwrap_or(("", input));
    let lookup = |name: &str| (!name.starts_with("UNSET")).then(|| value.to_owned());
    let _ = env::parse_yaml(text, &lookup);
    let _ = config::from_yaml_str(
        text,
        Path::new("/fuzz/conf/config.yaml"),
        Path::new("/fuzz"),
    );
});
