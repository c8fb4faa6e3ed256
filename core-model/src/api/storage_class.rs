//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClass {
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl Validate for StorageClass { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for StorageClass { fn set_defaults(&mut self) {} }
