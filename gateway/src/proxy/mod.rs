//! Listeners, TCP relay, UDP sessions: filled in by the data-plane work.
