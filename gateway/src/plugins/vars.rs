//! Stream variables (`$remote_addr`, `$server_port`, `$route_id`, plugin-set ones such as
//! `$mqtt_client_id`) as plugins read them.

use crate::conn::ConnInfo;

/// The variables of one connection.
#[derive(Debug, Clone, Copy)]
pub struct StreamVars<'a> {
    pub conn: &'a ConnInfo,
    pub route_id: &'a str,
    /// Variables set by earlier plugins.
    pub extra: &'a [(String, String)],
}

impl StreamVars<'_> {
    /// The value of `name` (with or without a leading `$`); `None` when unknown.
    pub fn get(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix('$').unwrap_or(name);
        match name {
            "remote_addr" => Some(self.conn.remote.ip().to_canonical().to_string()),
            "remote_port" => Some(self.conn.remote.port().to_string()),
            "server_addr" => Some(self.conn.local.ip().to_canonical().to_string()),
            "server_port" => Some(self.conn.local.port().to_string()),
            "route_id" => Some(self.route_id.to_owned()),
            "ssl_server_name" => self.conn.sni.clone(),
            _ => self
                .extra
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        }
    }

    /// Resolves a `var_combination` template: every `$name` replaced by its value (unknown
    /// variables become empty), other text kept.
    pub fn resolve(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
            } else if let Some(v) = self.get(&after[..end]) {
                out.push_str(&v);
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }
}
