//! `ip-restriction`: `whitelist` / `blacklist` of IPs and CIDRs over `$remote_addr`; an
//! IPv4-mapped IPv6 client matches IPv4 rules. Refused clients get 403.

use std::net::IpAddr;

use ipnet::IpNet;
use model::ip::IpRule;
use serde_json::Value;

use std::sync::Arc;

use async_trait::async_trait;

use super::{ChainContext, PrereadContext, StreamPlugin, FORBIDDEN};

/// A compiled ip-restriction conf.
#[derive(Debug)]
pub struct IpRestriction {
    whitelist: Option<Vec<IpNet>>,
    blacklist: Vec<IpNet>,
}

fn parse_list(conf: &Value, name: &str) -> Option<Vec<IpNet>> {
    let list = conf.get(name)?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| model::ip::parse_cidr_or_ip(v.as_str()?))
            .map(IpRule::network)
            .collect(),
    )
}

impl IpRestriction {
    /// Compiles a validated conf.
    pub fn compile(conf: &Value) -> IpRestriction {
        IpRestriction {
            whitelist: parse_list(conf, "whitelist"),
            blacklist: parse_list(conf, "blacklist").unwrap_or_default(),
        }
    }

    /// `Err(403)` when `ip` is not allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), u16> {
        let ip = ip.to_canonical();
        let hit = |list: &[IpNet]| list.iter().any(|n| n.contains(&ip));
        if let Some(white) = &self.whitelist {
            if !hit(white) {
                return Err(FORBIDDEN);
            }
        }
        if hit(&self.blacklist) {
            return Err(FORBIDDEN);
        }
        Ok(())
    }
}

/// Builds the plugin for the [registry](super::registry).
pub fn build(conf: &Value, _cx: &ChainContext<'_>) -> Option<Arc<dyn StreamPlugin>> {
    Some(Arc::new(IpRestriction::compile(conf)))
}

#[async_trait]
impl StreamPlugin for IpRestriction {
    async fn preread(&self, cx: &mut PrereadContext<'_>) -> Result<(), u16> {
        self.check(cx.conn.remote.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whitelist_admits_members_and_mapped_v4_clients() {
        let p = IpRestriction::compile(&json!({"whitelist": ["127.0.0.0/8", "::1"]}));
        assert!(p.check("127.0.0.1".parse().expect("ip")).is_ok());
        assert!(p.check("::ffff:127.0.0.9".parse().expect("ip")).is_ok());
        assert!(p.check("::1".parse().expect("ip")).is_ok());
        assert_eq!(p.check("10.0.0.1".parse().expect("ip")), Err(403));
    }

    #[test]
    fn blacklist_refuses_members() {
        let p = IpRestriction::compile(&json!({"blacklist": ["10.0.0.0/8"]}));
        assert_eq!(p.check("10.1.2.3".parse().expect("ip")), Err(403));
        assert!(p.check("11.1.2.3".parse().expect("ip")).is_ok());
    }
}
