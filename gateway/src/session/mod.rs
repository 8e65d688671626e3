//! The life of a session as the rest of the gateway sees it once it ends: the
//! [`SessionRecord`] (a leaf type: addresses, route, status, bytes, timings), the
//! [`SessionSink`] trait that receives records, and the [`SessionPipeline`] that fans each
//! record out to the sinks registered at start-up.
//!
//! The data path follows a session with a recorder (`proxy::recorder`) that emits exactly one
//! record when the session ends, whatever the path taken.

mod pipeline;
mod record;
mod route_counters;
pub mod routestats;
mod sink;

pub use pipeline::SessionPipeline;
pub use record::{reject_status, relay_status, status, RejectReason, RelayEnd, SessionRecord};
pub use route_counters::RouteRejection;
pub use sink::SessionSink;
