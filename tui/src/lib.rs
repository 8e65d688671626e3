//! `apisix-tui`: the terminal dashboard.
