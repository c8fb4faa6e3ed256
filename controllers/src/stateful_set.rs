//! (in progress) The stateful_set controller.
