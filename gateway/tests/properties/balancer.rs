//! Balancer properties: smooth weighted roundrobin gives every node its weight's share of the
//! picks (within 1 %), only from the highest priority group that can take traffic; a retry
//! walks the groups from the highest priority down; consistent hashing moves few keys when a
//! node goes.

use std::collections::HashMap;
use std::net::SocketAddr;

use apisix_gateway::balancer::{NodeAddr, PickState, UpstreamRuntime};
use apisix_gateway::conn::{ConnInfo, Transport};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
struct NodeSpec {
    weight: u32,
    priority: i64,
    healthy: bool,
}

fn host(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

fn addr(i: usize) -> NodeAddr {
    NodeAddr {
        host: host(i),
        port: 80,
    }
}

fn client(remote: SocketAddr) -> ConnInfo {
    ConnInfo {
        remote,
        local: "127.0.0.1:9100".parse().expect("local addr"),
        sni: None,
        transport: Transport::Tcp,
    }
}

fn upstream(body: serde_json::Value) -> UpstreamRuntime {
    let up: model::types::Upstream = serde_json::from_value(body).expect("valid upstream");
    UpstreamRuntime::compile("upstreams/prop".to_owned(), &up)
}

fn roundrobin(nodes: &[NodeSpec]) -> UpstreamRuntime {
    let list: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"host": host(i), "port": 80, "weight": n.weight, "priority": n.priority}))
        .collect();
    let up = upstream(json!({"type": "roundrobin", "nodes": list}));
    for (i, n) in nodes.iter().enumerate() {
        assert!(up.set_healthy(&addr(i), n.healthy), "node {i} is known");
    }
    up
}

/// The nodes that take new connections and their weights: the highest priority group with a
/// healthy node of weight > 0 (its healthy members); when no such node exists at all, every
/// node counts as healthy.
fn expected_share(nodes: &[NodeSpec]) -> HashMap<usize, u32> {
    let any_healthy = nodes.iter().any(|n| n.weight > 0 && n.healthy);
    let usable = |n: &NodeSpec| n.weight > 0 && (n.healthy || !any_healthy);
    let Some(top) = nodes.iter().filter(|n| usable(n)).map(|n| n.priority).max() else {
        return HashMap::new();
    };
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| usable(n) && n.priority == top)
        .map(|(i, n)| (i, n.weight))
        .collect()
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (0u32..=20, -1i64..=2, proptest::bool::weighted(0.8)).prop_map(|(weight, priority, healthy)| {
        NodeSpec {
            weight,
            priority,
            healthy,
        }
    })
}

fn index_of(node: &NodeAddr) -> usize {
    let last = node.host.rsplit('.').next().expect("dotted host");
    last.parse::<usize>().expect("numeric host part") - 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn roundrobin_follows_the_weights_of_the_top_usable_priority_group(
        nodes in proptest::collection::vec(node_spec(), 1..8),
    ) {
        let up = roundrobin(&nodes);
        let expected = expected_share(&nodes);
        let conn = client("192.0.2.1:40000".parse().expect("addr"));
        if expected.is_empty() {
            prop_assert_eq!(up.pick(&conn, &mut PickState::default()), None);
            return Ok(());
        }
        let total: u32 = expected.values().sum();
        let picks = 5_000usize;
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for _ in 0..picks {
            let node = up.pick(&conn, &mut PickState::default()).expect("a node");
            *counts.entry(index_of(&node)).or_default() += 1;
        }
        for (node, n) in &counts {
            prop_assert!(expected.contains_key(node), "node {} picked {} times, expected only {:?}", node, n, expected);
        }
        for (node, weight) in &expected {
            let share = *counts.get(node).unwrap_or(&0) as f64 / picks as f64;
            let want = f64::from(*weight) / f64::from(total);
            prop_assert!((share - want).abs() <= 0.01, "node {}: share {} vs weight share {}", node, share, want);
        }
    }

    #[test]
    fn retries_walk_the_priority_groups_from_the_highest_down(
        nodes in proptest::collection::vec(node_spec(), 1..8),
    ) {
        let nodes: Vec<NodeSpec> = nodes.into_iter().map(|n| NodeSpec { healthy: true, ..n }).collect();
        let up = roundrobin(&nodes);
        let conn = client("192.0.2.1:40000".parse().expect("addr"));
        let mut state = PickState::default();
        let picked: Vec<usize> = std::iter::from_fn(|| up.pick(&conn, &mut state)).map(|n| index_of(&n)).collect();
        let usable: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].weight > 0).collect();
        // Every usable node once (the default retry budget is nodes - 1), by priority.
        let mut sorted = picked.clone();
        sorted.sort_unstable();
        prop_assert_eq!(&sorted, &usable);
        for pair in picked.windows(2) {
            prop_assert!(nodes[pair[0]].priority >= nodes[pair[1]].priority, "order {:?}", picked);
        }
    }
}

fn chash(count: usize, skip: Option<usize>) -> UpstreamRuntime {
    let nodes: serde_json::Map<String, serde_json::Value> = (0..count)
        .filter(|&i| Some(i) != skip)
        .map(|i| (format!("{}:80", host(i)), json!(1)))
        .collect();
    upstream(json!({"type": "chash", "key": "remote_addr", "nodes": nodes}))
}

/// `count` well-spread client addresses derived from `seed` (splitmix64).
fn client_keys(seed: u64, count: usize) -> Vec<u32> {
    (0..count as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u32
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// 8,000 keys keep the sampling error near 0.5 %, well inside the 5 % allowance.
    #[test]
    fn chash_removing_one_of_n_nodes_moves_at_most_a_share_plus_five_percent(
        count in 2usize..=10,
        removed in any::<proptest::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let removed = removed.index(count);
        let before = chash(count, None);
        let after = chash(count, Some(removed));
        let keys = client_keys(seed, 8_000);
        let mut moved = 0usize;
        for key in &keys {
            let conn = client(SocketAddr::new(std::net::Ipv4Addr::from(*key).into(), 1));
            let a = before.pick(&conn, &mut PickState::default()).expect("a node");
            let b = after.pick(&conn, &mut PickState::default()).expect("a node");
            if a != b {
                moved += 1;
                // Only the removed node's keys have a reason to move.
                prop_assert_eq!(index_of(&a), removed, "a key moved off a node that stayed");
            }
        }
        let share = moved as f64 / keys.len() as f64;
        prop_assert!(share <= 1.0 / count as f64 + 0.05, "{} of {} keys moved with {} nodes", moved, keys.len(), count);
    }
}
