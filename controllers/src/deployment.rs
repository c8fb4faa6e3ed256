//! (in progress) The deployment controller.
