//! (in progress) eviction.
