//! TEMPORARY SHAPE — being replaced by the Quantity helper. Do not rely on internals.
#![allow(missing_docs)]
use std::collections::BTreeMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity(String);

impl Quantity {
    pub fn milli_value(&self) -> i64 { 0 }
    pub fn value(&self) -> i64 { 0 }
}

pub type ResourceList = BTreeMap<String, Quantity>;
