//! Flotilla's API model: the Kubernetes objects, read from the same YAML a real cluster accepts,
//! validated as the API server validates them, and kept in an in-memory object store with
//! resource versions, watches and admission (the API server and etcd in one pure value).
//!
//! ```
//! use flotilla_model::manifest;
//!
//! let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n";
//! let docs = manifest::parse_str("team-a.yaml", yaml).expect("valid manifest");
//! assert_eq!(docs.objects[0].object.metadata().name, "team-a");
//! ```
//!
//! This crate is pure: it reads no clock, file, socket or environment variable. Time comes in as
//! [`Time`] arguments and randomness from seeds.

pub mod api;
pub mod manifest;
pub mod meta;
pub mod object;
pub mod quantity;
pub mod rng;
pub mod selector;
pub mod store;
pub mod time;
pub mod validation;

pub use meta::{IntOrString, Labels, ObjectMeta, OwnerReference};
pub use object::{Kind, Object, Resource};
pub use quantity::{Quantity, ResourceList};
pub use selector::{FieldSelector, LabelSelector, Selector};
pub use time::{Duration, Time};
pub use validation::{ErrorList, FieldError, FieldPath, SetDefaults, Validate};
