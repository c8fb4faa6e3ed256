//! (in progress) The job controller.
