//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {}
impl Validate for Node { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for Node { fn set_defaults(&mut self) {} }
