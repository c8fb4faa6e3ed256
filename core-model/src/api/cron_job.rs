//! SCAFFOLD — replaced by the helper that owns this kind.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};
use crate::meta::ObjectMeta;
use crate::validation::{ErrorList, SetDefaults, Validate};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CronJobSpec,
    #[serde(default)]
    pub status: CronJobStatus,
}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CronJobSpec {}
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CronJobStatus {}
impl Validate for CronJob { fn validate(&self) -> ErrorList { Vec::new() } }
impl SetDefaults for CronJob { fn set_defaults(&mut self) {} }
