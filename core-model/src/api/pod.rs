//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodSpec {}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PodStatus {}
impl Validate for Pod { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for Pod { fn set_defaults(&mut self) {} }
