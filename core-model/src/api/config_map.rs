//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default)]
    pub metadata: ObjectMeta,
}
impl Validate for ConfigMap { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for ConfigMap { fn set_defaults(&mut self) {} }
