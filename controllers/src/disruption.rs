//! (in progress) disruption.
