//! (in progress) The daemon_set controller.
