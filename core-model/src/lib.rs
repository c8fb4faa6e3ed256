//! Flotilla's API model: the Kubernetes objects, read from the same YAML a real cluster accepts,
//! validated as the API server validates them, and kept in an in-memory object store with
//! resource versions, watches and admission (the API server and etcd in one pure value).
//!
//! A short tour: read a manifest, store its objects through admission, and watch what changed.
//!
//! ```
//! use flotilla_model::manifest;
//! use flotilla_model::store::{ListOptions, Store, StoreConfig, WatchCursor};
//! use flotilla_model::{Kind, Object, Selector, Time};
//!
//! let yaml = r#"
//! apiVersion: v1
//! kind: Pod
//! metadata:
//!   name: web-1
//!   labels: {app: web}
//! spec:
//!   containers:
//!   - name: web
//!     image: nginx:1.27
//!     resources:
//!       limits: {cpu: 500m, memory: 128Mi}
//! "#;
//! let manifests = manifest::parse_str("web.yaml", yaml).expect("a valid manifest");
//! assert!(manifests.check().is_empty()); // defaults + validation, as the API server runs them
//!
//! let mut store = Store::new(StoreConfig { seed: 42, ..StoreConfig::default() });
//! let mut cursor = WatchCursor::new(&[Kind::Pod], store.resource_version());
//! for m in manifests.objects {
//!     store.create(m.object, Time::from_secs(1)).expect("admitted");
//! }
//!
//! // Defaulting ran: requests default to limits, the pod landed in `default`.
//! let stored = store.get(Kind::Pod, "default", "web-1").expect("stored");
//! let Object::Pod(pod) = stored.as_ref() else { unreachable!() };
//! assert_eq!(pod.spec.containers[0].resources.requests["cpu"].to_string(), "500m");
//!
//! // Lists filter by label selector; watches report every change since the cursor.
//! let options = ListOptions { label_selector: Some(Selector::parse("app=web").unwrap()), ..Default::default() };
//! let (pods, _version) = store.list(Kind::Pod, &options).unwrap();
//! assert_eq!(pods.len(), 1);
//! assert_eq!(store.watch(&mut cursor).unwrap().len(), 1);
//! ```
//!
//! This crate is pure: it reads no clock, file, socket or environment variable. Time comes in as
//! [`Time`] arguments and randomness from seeds.

pub mod api;
pub mod auth;
pub mod hash;
pub mod manifest;
pub mod meta;
pub mod object;
pub mod quantity;
pub mod rng;
pub mod selector;
pub mod shared;
pub mod store;
pub mod time;
pub mod validation;

pub use meta::{IntOrString, Labels, ObjectMeta, OwnerReference};
pub use object::{Kind, Object, Resource};
pub use quantity::{Quantity, ResourceList};
pub use selector::{FieldSelector, LabelSelector, Selector};
pub use shared::Shared;
pub use time::{Duration, Time};
pub use validation::{ErrorList, FieldError, FieldPath, SetDefaults, Validate};
