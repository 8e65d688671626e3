//! `gwbench etcd-leader`: which member of an etcd cluster leads, through etcd's v3 JSON
//! gateway (`POST <endpoint>/v3/maintenance/status`: `header.member_id` is the member that
//! answered, `leader` the leader it knows; etcd writes both 64-bit ids as JSON strings).
//!
//! A leader counts once every given endpoint answers, all name the same non-zero leader, and
//! that leader is one of them: after the leader is killed, the survivors still name it until
//! the election timeout, so polling the survivors only waits for the new election.
//!
//! [`delete_prefix`] removes a run's routes in one request (`POST /v3/kv/deleterange`), so the
//! next run starts from the same route count.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;

/// Bound of one status request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Time between polls.
const POLL: Duration = Duration::from_millis(100);

/// One member's answer.
#[derive(Debug, Clone, PartialEq)]
struct Status {
    member_id: u64,
    leader: u64,
}

/// Waits up to `timeout` for a leader among `endpoints`; returns the leader's endpoint.
pub async fn wait_leader(endpoints: &[String], timeout: Duration) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the http client")?;
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    loop {
        let mut answers = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            match status(&client, endpoint).await {
                Ok(s) => answers.push(s),
                Err(error) => last = format!("{endpoint}: {error:#}"),
            }
        }
        if answers.len() == endpoints.len() {
            if let Some(index) = agreed_leader(&answers) {
                return Ok(endpoints[index].clone());
            }
            last = format!("no agreed leader among them: {answers:?}");
        }
        if Instant::now() >= deadline {
            bail!("no etcd leader among {endpoints:?} within {timeout:?} ({last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes every key that starts with `prefix`; returns how many were deleted.
pub async fn delete_prefix(endpoint: &str, prefix: &str) -> anyhow::Result<u64> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT * 5)
        .build()
        .context("cannot build the http client")?;
    let url = format!("{}/v3/kv/deleterange", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({
        "key": BASE64.encode(prefix),
        "range_end": BASE64.encode(prefix_end(prefix.as_bytes())),
    });
    let answer: Value = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?
        .error_for_status()?
        .json()
        .await
        .with_context(|| format!("POST {url}: not JSON"))?;
    // etcd leaves out zero values: no `deleted` means none.
    Ok(answer.get("deleted").and_then(id).unwrap_or(0))
}

/// etcd's range end for "every key with this prefix": the prefix with its last byte that is
/// not 0xff incremented and the rest cut off (`\0` = to the end of the key space).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The index of the member all `answers` name as leader, if they agree on one of themselves.
fn agreed_leader(answers: &[Status]) -> Option<usize> {
    let leader = answers.first()?.leader;
    if leader == 0 || answers.iter().any(|s| s.leader != leader) {
        return None;
    }
    answers.iter().position(|s| s.member_id == leader)
}

async fn status(client: &reqwest::Client, endpoint: &str) -> anyhow::Result<Status> {
    let url = format!("{}/v3/maintenance/status", endpoint.trim_end_matches('/'));
    let body: Value = client
        .post(&url)
        .body("{}")
        .send()
        .await
        .with_context(|| format!("POST {url}"))?
        .error_for_status()?
        .json()
        .await
        .with_context(|| format!("POST {url}: not JSON"))?;
    parse_status(&body).with_context(|| format!("POST {url}: unexpected answer {body}"))
}

fn parse_status(body: &Value) -> Option<Status> {
    Some(Status {
        member_id: id(body.get("header")?.get("member_id")?)?,
        leader: id(body.get("leader")?)?,
    })
}

/// A 64-bit id written as a JSON string (etcd's JSON gateway) or a number.
fn id(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        other => other.as_u64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_etcd_json_gateway_status() {
        let body = serde_json::json!({
            "header": {"cluster_id": "1", "member_id": "10276657743932975437", "revision": "5"},
            "version": "3.4.23",
            "leader": "10276657743932975437",
        });
        assert_eq!(
            parse_status(&body),
            Some(Status {
                member_id: 10276657743932975437,
                leader: 10276657743932975437
            })
        );
        assert_eq!(parse_status(&serde_json::json!({"leader": "1"})), None);
    }

    #[test]
    fn the_range_end_of_a_prefix_is_the_next_key_after_it() {
        assert_eq!(
            prefix_end(b"/apisix/stream_routes/fleet-up-"),
            b"/apisix/stream_routes/fleet-up."
        );
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }

    #[test]
    fn a_leader_counts_only_when_all_agree_on_one_of_them() {
        let s = |member_id, leader| Status { member_id, leader };
        assert_eq!(agreed_leader(&[s(1, 2), s(2, 2), s(3, 2)]), Some(1));
        // The survivors still name the killed leader 9: not yet.
        assert_eq!(agreed_leader(&[s(1, 9), s(2, 9)]), None);
        assert_eq!(agreed_leader(&[s(1, 1), s(2, 0)]), None);
        assert_eq!(agreed_leader(&[s(1, 0), s(2, 0)]), None);
    }
}
