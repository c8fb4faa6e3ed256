//! (in progress) endpoint_slice.
