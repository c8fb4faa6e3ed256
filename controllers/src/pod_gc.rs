//! (in progress) pod_gc.
