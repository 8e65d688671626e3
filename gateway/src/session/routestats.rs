//! Per-route live statistics for the Control API (`/v1/stream_routes`): the map of every
//! route's [`RouteStats`] (active and total connections, rejections by reason, bytes each way
//! and a one-minute per-second throughput ring; see [`super::route_counters`]).
//!
//! The data path only touches atomics: a connection looks its route's [`RouteStats`] up once
//! (lock-free: the map is an `ArcSwap` that is copied on the rare insert of a new route id),
//! then adds bytes to it as they flow. Stats are keyed by route id and survive route updates.
//! A 1 s ticker ([`RouteStatsMap::tick`]) turns the cumulative counters into the ring's samples.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::record::SessionRecord;
pub use super::route_counters::{RouteStats, RING_LEN};

/// Every route's stats by route id.
#[derive(Debug, Default)]
pub struct RouteStatsMap {
    map: ArcSwap<HashMap<String, Arc<RouteStats>>>,
    /// Serialises inserts (readers never take it).
    insert: Mutex<()>,
}

impl RouteStatsMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stats of route `id`, if it ever had a connection.
    pub fn get(&self, id: &str) -> Option<Arc<RouteStats>> {
        self.map.load().get(id).cloned()
    }

    /// The stats of route `id`, created on first use. Lock-free when it exists.
    pub fn get_or_create(&self, id: &str) -> Arc<RouteStats> {
        if let Some(found) = self.get(id) {
            return found;
        }
        let _guard = self.insert.lock().expect("insert lock is never poisoned");
        let current = self.map.load();
        if let Some(found) = current.get(id) {
            return found.clone();
        }
        let stats = Arc::new(RouteStats::default());
        let mut next = HashMap::clone(&current);
        next.insert(id.to_owned(), stats.clone());
        self.map.store(Arc::new(next));
        stats
    }

    /// The end of one session: a routed one stops being active on its route, a turned-away
    /// one counts in its route's `rejected` (the stats' part as a session sink).
    pub fn finish(&self, record: &SessionRecord) {
        let Some(id) = record.route_id.as_deref() else {
            return;
        };
        if !record.routed && record.rejection.is_none() {
            return;
        }
        let stats = match &record.route_stats {
            Some(stats) => stats.clone(),
            None => self.get_or_create(id),
        };
        if let Some(why) = record.rejection {
            stats.rejected(why);
        }
        if record.routed {
            stats.closed();
        }
    }

    /// Advances every route's ring by one sample.
    pub fn tick(&self) {
        for stats in self.map.load().values() {
            stats.tick();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_returns_the_same_stats_for_an_id() {
        let map = RouteStatsMap::new();
        let a = map.get_or_create("1");
        a.opened();
        assert_eq!(map.get_or_create("1").total(), 1);
        assert!(map.get("2").is_none());
    }
}
