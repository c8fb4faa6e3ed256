//! (in progress) horizontal_pod_autoscaler.
