//! (in progress) namespace.
