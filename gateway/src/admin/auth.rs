//! Who may use the Admin API: the `allow_admin` CIDR list (a denied peer gets nginx's 403
//! page) and the admin key (`api_key` query arg, then `X-API-KEY`, then cookie `x_api_key`),
//! compared in constant time. A `viewer` key may only GET.

use std::net::IpAddr;

use hyper::{HeaderMap, Method};
use subtle::ConstantTimeEq;

use super::request::{api_key_cookie, QueryArgs};
use crate::config::{AdminConfig, AdminKey};

/// Why a request's key was refused (the 401 `description`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRefusal {
    Missing,
    Wrong,
    ViewerMethod,
}

impl KeyRefusal {
    /// APISIX's `description` text.
    pub fn description(self) -> &'static str {
        match self {
            KeyRefusal::Missing => "missing apikey",
            KeyRefusal::Wrong => "wrong apikey",
            KeyRefusal::ViewerMethod => "invalid method for role viewer",
        }
    }
}

/// Whether `peer` may reach the Admin API (`allow_admin`; absent: everyone).
pub(crate) fn peer_allowed(admin: &AdminConfig, peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    match &admin.allow_admin {
        None => true,
        Some(nets) => nets.iter().any(|net| net.contains(&peer)),
    }
}

/// Checks the request's admin key against the configured keys.
pub(crate) fn check_key(
    admin: &AdminConfig,
    method: &Method,
    headers: &HeaderMap,
    args: &QueryArgs,
) -> Result<(), KeyRefusal> {
    // An empty key list checks nothing in APISIX only when the setting is absent, which its
    // defaults never allow; here it means no key can match.
    if !admin.key_required {
        return Ok(());
    }
    let token = presented_key(headers, args).ok_or(KeyRefusal::Missing)?;
    let role = matching_key(admin, &token).map(|key| key.role.as_str());
    match role {
        None => Err(KeyRefusal::Wrong),
        Some("viewer") if method != Method::GET => Err(KeyRefusal::ViewerMethod),
        Some(_) => Ok(()),
    }
}

/// The key a request presents: `api_key` query arg, then `X-API-KEY`, then cookie `x_api_key`.
pub(crate) fn presented_key(headers: &HeaderMap, args: &QueryArgs) -> Option<String> {
    args.get("api_key")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| api_key_cookie(headers))
}

/// The configured key equal to `token`. Every key is compared, so the time taken does not
/// depend on which one matched; an empty configured key never matches (it is a key not
/// generated yet, not "no key").
pub(crate) fn matching_key<'a>(admin: &'a AdminConfig, token: &str) -> Option<&'a AdminKey> {
    let mut found = None;
    for key in &admin.keys {
        let equal: bool = key.key.as_bytes().ct_eq(token.as_bytes()).into();
        if equal && !key.key.is_empty() && found.is_none() {
            found = Some(key);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(keys: &[(&str, &str)]) -> AdminConfig {
        AdminConfig {
            listen: "127.0.0.1:9180".parse().expect("valid address"),
            key_required: true,
            keys: keys
                .iter()
                .map(|(key, role)| AdminKey::for_role(role, key))
                .collect(),
            allow_admin: Some(vec!["127.0.0.0/24".parse().expect("valid cidr")]),
            ..crate::config::Config::defaults(std::path::Path::new("/")).admin
        }
    }

    #[test]
    fn query_key_wins_over_header() {
        let admin = admin(&[("good", "admin")]);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "good".parse().expect("valid header"));
        let args = QueryArgs::parse(Some("api_key=bad"));
        assert_eq!(
            check_key(&admin, &Method::GET, &headers, &args),
            Err(KeyRefusal::Wrong)
        );
    }

    #[test]
    fn empty_configured_key_never_matches_an_empty_token() {
        let admin = admin(&[("", "admin")]);
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "".parse().expect("valid header"));
        assert_eq!(
            check_key(&admin, &Method::GET, &headers, &QueryArgs::default()),
            Err(KeyRefusal::Wrong)
        );
    }

    #[test]
    fn no_configured_key_refuses_every_token() {
        let admin = admin(&[]);
        let args = QueryArgs::parse(Some("api_key=anything"));
        assert_eq!(
            check_key(&admin, &Method::GET, &HeaderMap::new(), &args),
            Err(KeyRefusal::Wrong)
        );
    }

    #[test]
    fn viewer_may_only_get() {
        let admin = admin(&[("v", "viewer")]);
        let args = QueryArgs::parse(Some("api_key=v"));
        let headers = HeaderMap::new();
        assert_eq!(check_key(&admin, &Method::GET, &headers, &args), Ok(()));
        assert_eq!(
            check_key(&admin, &Method::PUT, &headers, &args),
            Err(KeyRefusal::ViewerMethod)
        );
    }

    #[test]
    fn ipv4_mapped_peer_is_matched_against_ipv4_cidrs() {
        let admin = admin(&[]);
        assert!(peer_allowed(
            &admin,
            "::ffff:127.0.0.1".parse().expect("ip")
        ));
        assert!(!peer_allowed(&admin, "10.0.0.1".parse().expect("ip")));
    }
}
