//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRange {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LimitRangeSpec,
}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitRangeSpec {}
impl Validate for LimitRange { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for LimitRange { fn set_defaults(&mut self) {} }
