//! (in progress) proxy.
