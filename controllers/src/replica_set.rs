//! (in progress) The replica_set controller.
