//! The `conf/config.yaml` loader on arbitrary text, `${{ENV}}` substitution included: it
//! never panics. The input is `<variable value>\0<config text>`: the value is what every
//! `${{VAR}}` in the text resolves to, so substitution sees hostile values as well as hostile
//! documents.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config_yaml(data));
