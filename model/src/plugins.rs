//! TODO-free placeholder; filled in by the model work.
