//! Shared types of the gateway, `apisixctl` and `apisix-tui`.
//!
//! Layout:
//! - [`resource`]: the Admin API resource kinds (`stream_routes`, `upstreams`, ...) and their names;
//!   APISIX's HTTP-only resources (`routes`, `consumers`, ...), served empty and read-only.
//! - [`types`]: typed serde views of stored objects (stream route, upstream, service, ssl), used by
//!   the data plane after validation.
//! - [`jsonschema`]: a JSON-schema validator whose messages are APISIX's (api7/jsonschema) texts.
//! - [`schema`]: APISIX's resource schemas (stream route, upstream, service, ssl) as JSON, served
//!   by `/v1/schema`; plugin schemas live in [`plugins`].
//! - [`validate`]: the whole write check of the Admin API, in APISIX's order, with its exact texts.
//!   The Admin API, the store watcher, the YAML loader and `apisixctl validate` all call it.
//!   Also the PATCH merge ([`validate::merge_patch`]) and delete constraints ([`validate::check_delete`]).
//! - [`plugins`]: the stream plugins we know, their priorities, schemas and conf checks.
//! - [`json_path`]: the JSONPath (`$.upstream.timeout`) a validation error points at.
//! - [`ip`]: IP/CIDR parsing as APISIX's `core.ip` does it.
//! - [`route_match`]: what a stream route matches, as the router reads it (address rules,
//!   SNI patterns); [`shadow`]: the routes an earlier route always takes first.
//! - [`envelope`]: Admin API response bodies (`key`/`value`, `{list,total}`, deleted, not found).
//! - [`control`]: the Control API's JSON contract (`/v1/status`, `/v1/stream_routes`,
//!   `/v1/connections`, `/v1/match`, `/v1/healthcheck`), written by the gateway, read by the
//!   client, the CLI and the dashboard.
//! - [`admin_key`]: where the CLI and the dashboard find the Admin API key (one precedence).
//! - `client` (feature `client`): a typed reqwest client of the Admin and Control APIs, and
//!   `client::tls`: the TLS settings of `apisixctl` and `apisix-tui` (ADC's flag names), the
//!   rustls configuration built from them and the one-line reason of a failed handshake.
//! - `tls` (feature `tls`): the rustls verifier that accepts any server certificate.

pub mod admin_key;
pub mod control;
pub mod envelope;
pub mod ip;
pub mod json_path;
pub mod jsonschema;
pub mod plugins;
pub mod resource;
pub mod route_match;
pub mod schema;
pub mod shadow;
pub mod types;
pub mod validate;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "tls")]
pub mod tls;

pub use resource::ResourceKind;
pub use validate::{CheckContext, ValidationError, WriteMethod};
