//! (in progress) node_lifecycle.
