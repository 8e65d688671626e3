//! Embedded store (redb): filled in by the store work.
