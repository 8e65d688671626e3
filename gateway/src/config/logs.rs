//! The error log's keys: `nginx_config.error_log` (a file, or stderr when unset),
//! `nginx_config.error_log_level` (APISIX's nginx levels) and `apisix.log_format` (ours:
//! `text` or `json`, for the error log and the stream access log alike).

use std::path::{Path, PathBuf};

use super::reader::Reader;

/// `nginx_config.error_log_level`: nginx's eight levels, as APISIX takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorLogLevel {
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Crit,
    Alert,
    Emerg,
}

impl ErrorLogLevel {
    /// The names accepted in config.yaml, lowest first.
    pub const NAMES: [&'static str; 8] = [
        "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
    ];

    /// The level named `name` (one of [`ErrorLogLevel::NAMES`]).
    pub fn parse(name: &str) -> Option<ErrorLogLevel> {
        Some(match name {
            "debug" => ErrorLogLevel::Debug,
            "info" => ErrorLogLevel::Info,
            "notice" => ErrorLogLevel::Notice,
            "warn" => ErrorLogLevel::Warn,
            "error" => ErrorLogLevel::Error,
            "crit" => ErrorLogLevel::Crit,
            "alert" => ErrorLogLevel::Alert,
            "emerg" => ErrorLogLevel::Emerg,
            _ => return None,
        })
    }

    /// The `tracing` level filter with the same cut: `notice` logs what `info` logs (tracing
    /// has no notice), and `crit`/`alert`/`emerg` log errors only (it has nothing above error).
    pub fn tracing_filter(self) -> &'static str {
        match self {
            ErrorLogLevel::Debug => "debug",
            ErrorLogLevel::Info | ErrorLogLevel::Notice => "info",
            ErrorLogLevel::Warn => "warn",
            ErrorLogLevel::Error
            | ErrorLogLevel::Crit
            | ErrorLogLevel::Alert
            | ErrorLogLevel::Emerg => "error",
        }
    }
}

/// `apisix.log_format` (ours): how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// Human-readable lines (the error log) and `access_log_format` as written (the access log).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LineFormat {
    /// `text` or `json`.
    pub fn parse(name: &str) -> Option<LineFormat> {
        match name {
            "text" => Some(LineFormat::Text),
            "json" => Some(LineFormat::Json),
            _ => None,
        }
    }
}

/// Where and how the gateway writes its own log (the error log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `nginx_config.error_log` resolved against the prefix; `None` = stderr (unset, or the
    /// word `stderr` / `/dev/stderr`).
    pub error_log: Option<PathBuf>,
    /// `nginx_config.error_log_level` (default `warn`, APISIX's).
    pub level: ErrorLogLevel,
    /// `apisix.log_format`, or `--log-format` when given.
    pub format: LineFormat,
    /// The format came from `--log-format`: a reload keeps it whatever the file says.
    pub format_from_flag: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            error_log: None,
            level: ErrorLogLevel::Warn,
            format: LineFormat::Text,
            format_from_flag: false,
        }
    }
}

impl LogSettings {
    /// `--log-format`: overrides `apisix.log_format` (and survives reloads).
    pub fn force_format(&mut self, format: LineFormat) {
        self.format = format;
        self.format_from_flag = true;
    }
}

/// Reads the three keys; a bad value is an error naming the key.
pub(super) fn read(r: &mut Reader<'_>, prefix: &Path) -> LogSettings {
    let error_log = r
        .string("nginx_config.error_log")
        .filter(|path| !matches!(path.as_str(), "stderr" | "/dev/stderr"));
    if error_log.as_deref() == Some("") {
        r.error("nginx_config.error_log: expected a file path or \"stderr\", got \"\"");
    }
    let level = r.one_of(
        "nginx_config.error_log_level",
        &ErrorLogLevel::NAMES,
        "warn",
    );
    let format = r.one_of("apisix.log_format", &["text", "json"], "text");
    LogSettings {
        error_log: error_log
            .filter(|path| !path.is_empty())
            .map(|path| super::resolve_path(prefix, &path)),
        level: ErrorLogLevel::parse(&level).unwrap_or(ErrorLogLevel::Warn),
        format: LineFormat::parse(&format).unwrap_or_default(),
        format_from_flag: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogSettings, Vec<String>> {
        let path = Path::new("/gw/conf/config.yaml");
        super::super::from_yaml_str(text, path, Path::new("/gw"))
            .map(|(config, _)| config.log)
            .map_err(|errors| errors.messages)
    }

    #[test]
    fn unset_keys_log_warn_and_up_to_stderr_as_text() {
        assert_eq!(parse(""), Ok(LogSettings::default()));
        let stderr = parse("nginx_config:\n  error_log: stderr\n").expect("valid");
        assert_eq!(stderr.error_log, None);
    }

    #[test]
    fn error_log_path_resolves_against_the_prefix_and_levels_map_to_tracing() {
        let log = parse(
            "apisix:\n  log_format: json\nnginx_config:\n  error_log: logs/error.log\n  error_log_level: notice\n",
        )
        .expect("valid");
        assert_eq!(log.error_log, Some(PathBuf::from("/gw/logs/error.log")));
        assert_eq!(log.level, ErrorLogLevel::Notice);
        assert_eq!(log.level.tracing_filter(), "info");
        assert_eq!(log.format, LineFormat::Json);
        let absolute = parse("nginx_config:\n  error_log: /var/log/gw/error.log\n").expect("ok");
        assert_eq!(
            absolute.error_log,
            Some(PathBuf::from("/var/log/gw/error.log"))
        );
        let cuts: Vec<&str> = ErrorLogLevel::NAMES
            .iter()
            .map(|name| ErrorLogLevel::parse(name).expect("known").tracing_filter())
            .collect();
        assert_eq!(
            cuts,
            ["debug", "info", "info", "warn", "error", "error", "error", "error"]
        );
    }

    #[test]
    fn bad_values_are_one_error_each_naming_the_key() {
        let errors = parse(
            "apisix:\n  log_format: xml\nnginx_config:\n  error_log: 7\n  error_log_level: verbose\n",
        )
        .expect_err("invalid");
        assert_eq!(
            errors,
            [
                "nginx_config.error_log: expected a string, got 7",
                "nginx_config.error_log_level: invalid value \"verbose\", expected one of: \
                 debug, info, notice, warn, error, crit, alert, emerg",
                "apisix.log_format: invalid value \"xml\", expected one of: text, json",
            ]
        );
        let empty = parse("nginx_config:\n  error_log: \"\"\n").expect_err("invalid");
        assert_eq!(
            empty,
            ["nginx_config.error_log: expected a file path or \"stderr\", got \"\""]
        );
    }

    #[test]
    fn the_command_line_format_wins_over_the_file() {
        let mut log = parse("apisix:\n  log_format: text\n").expect("valid");
        log.force_format(LineFormat::Json);
        assert_eq!((log.format, log.format_from_flag), (LineFormat::Json, true));
    }
}
