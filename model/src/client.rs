//! Typed Admin/Control API client: filled in by the CLI work.
