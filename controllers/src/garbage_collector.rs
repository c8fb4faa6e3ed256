//! (in progress) The garbage_collector controller.
