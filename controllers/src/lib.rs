//! Flotilla's controllers: the reconcile loops of Kubernetes' controller manager, the kubelet's
//! pod lifecycle logic, kube-proxy's routing logic, and `Cluster`, which composes them with the
//! object store and the scheduler.
//!
//! Every controller will be a pure function of the store's state and `now`, returning writes,
//! runtime commands and wake-up times for a driver (the simulator or runtime-linux) to carry out.
//! It has no public items yet; its content arrives with the controllers issue. The store it
//! reconciles against is [`flotilla_model::store::Store`].
