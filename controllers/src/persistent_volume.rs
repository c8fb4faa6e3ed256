//! (in progress) persistent_volume.
