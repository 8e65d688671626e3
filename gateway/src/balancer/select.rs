//! Node choice within one priority group for `roundrobin` (nginx's smooth weighted round
//! robin), `least_conn` (fewest live sessions per weight) and `ewma` (lowest decayed connect
//! latency, power of two choices). `eligible` says which nodes may be picked (untried, weight
//! above zero, healthy unless every node is unhealthy).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use rand::Rng;

use super::node::NodeState;

/// The nodes of one priority, with the round-robin and consistent-hash state.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// Indexes into the upstream's node list.
    pub(super) members: Vec<usize>,
    /// Smooth weighted round robin `current_weight`, by member position.
    pub(super) current: Mutex<Vec<i64>>,
    /// Consistent-hash points, sorted: (point, node index).
    pub(super) ring: Vec<(u64, usize)>,
}

/// Smooth weighted round robin (nginx): every eligible node gains its weight, the largest
/// current weight wins and loses the total. Over a cycle each node is picked exactly
/// `weight` times, interleaved (1:1 gives ABAB, never AABB).
pub(super) fn smooth_weighted(
    group: &Group,
    nodes: &[NodeState],
    eligible: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let mut current = group.current.lock().unwrap_or_else(PoisonError::into_inner);
    let mut total = 0i64;
    let mut best: Option<usize> = None;
    for (pos, &node) in group.members.iter().enumerate() {
        if !eligible(node) {
            continue;
        }
        let weight = i64::from(nodes[node].weight);
        current[pos] += weight;
        total += weight;
        if best.is_none_or(|b| current[pos] > current[b]) {
            best = Some(pos);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(group.members[best])
}

/// Fewest live sessions relative to weight (`a.active·b.weight < b.active·a.weight`); ties
/// go to the first node from a rotating start so equal nodes share the load.
pub(super) fn least_conn(
    group: &Group,
    nodes: &[NodeState],
    eligible: &dyn Fn(usize) -> bool,
    rotor: &AtomicUsize,
) -> Option<usize> {
    let len = group.members.len();
    if len == 0 {
        return None;
    }
    let start = rotor.fetch_add(1, Ordering::Relaxed) % len;
    let mut best: Option<(usize, u128, u128)> = None;
    for k in 0..len {
        let node = group.members[(start + k) % len];
        if !eligible(node) {
            continue;
        }
        let active = u128::from(nodes[node].active());
        let weight = u128::from(nodes[node].weight);
        let better = match best {
            None => true,
            Some((_, b_active, b_weight)) => active * b_weight < b_active * weight,
        };
        if better {
            best = Some((node, active, weight));
        }
    }
    best.map(|(node, _, _)| node)
}

/// Power of two choices on the decayed connect-latency average: two distinct random eligible
/// nodes, the lower score wins. A node never measured scores 0, so new nodes get tried.
pub(super) fn ewma(
    group: &Group,
    nodes: &[NodeState],
    eligible: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let candidates: Vec<usize> = group
        .members
        .iter()
        .copied()
        .filter(|&n| eligible(n))
        .collect();
    match candidates.len() {
        0 => None,
        1 => Some(candidates[0]),
        n => {
            let mut rng = rand::thread_rng();
            let a = rng.gen_range(0..n);
            let mut b = rng.gen_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let now = Instant::now();
            let (x, y) = (candidates[a], candidates[b]);
            if nodes[y].ewma_score(now) < nodes[x].ewma_score(now) {
                Some(y)
            } else {
                Some(x)
            }
        }
    }
}
