//! Why `stream-route test`'s connection was closed without data: asks `/v1/match` about the
//! very connection (its client address and the gateway address it reached) and turns the
//! answer into one sentence naming the failed condition, the route that took it instead, or
//! the route's upstream warning.

use std::net::SocketAddr;

use model::client::{ControlClient, MatchQuery};
use model::control::MatchReport;

/// The explanation, or `None` when the Control API cannot tell.
pub async fn explain(
    control: &ControlClient,
    route_id: &str,
    client: SocketAddr,
    server: SocketAddr,
) -> Option<String> {
    let q = MatchQuery {
        client: client.to_string(),
        server_addr: Some(server.ip().to_string()),
        server_port: server.port(),
        sni: None,
        protocol: Some("tcp".to_owned()),
    };
    let answer = control.match_route(&q).await.ok()?;
    sentence(&answer, route_id)
}

/// The sentence for a `/v1/match` answer about the tested connection.
pub fn sentence(answer: &MatchReport, route_id: &str) -> Option<String> {
    match answer.matched.as_deref() {
        Some(id) if id == route_id => {
            (!answer.warnings.is_empty()).then(|| answer.warnings.join("; "))
        }
        Some(other) => Some(format!("the gateway routes it to stream route {other}")),
        None => {
            let ours = answer.routes.iter().find(|r| r.id == route_id);
            Some(match ours.and_then(|r| r.reason.as_deref()) {
                Some(reason) => format!("no stream route matches it ({route_id}: {reason})"),
                None => {
                    format!("no stream route matches it (stream route {route_id} is not loaded)")
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(body: serde_json::Value) -> MatchReport {
        serde_json::from_value(body).expect("a /v1/match answer")
    }

    #[test]
    fn sentences_name_the_failed_condition_or_the_other_route() {
        let none = json!({"matched": null, "routes": [
            {"id": "a", "matched": false, "reason": "server_port: 1 does not equal 2"},
            {"id": "ops", "matched": false, "reason": "remote_addr: 127.0.0.1 is not in 10.0.0.0/8"}]});
        assert_eq!(
            sentence(&report(none.clone()), "ops").as_deref(),
            Some("no stream route matches it (ops: remote_addr: 127.0.0.1 is not in 10.0.0.0/8)")
        );
        assert_eq!(
            sentence(&report(none.clone()), "gone").as_deref(),
            Some("no stream route matches it (stream route gone is not loaded)")
        );
        let other = json!({"matched": "b", "routes": []});
        assert_eq!(
            sentence(&report(other), "a").as_deref(),
            Some("the gateway routes it to stream route b")
        );
        let ours = json!({"matched": "a", "warnings": ["route a has no upstream: connections are closed (x)"]});
        assert_eq!(
            sentence(&report(ours), "a").as_deref(),
            Some("route a has no upstream: connections are closed (x)")
        );
        assert_eq!(sentence(&report(json!({"matched": "a"})), "a"), None);
    }
}
