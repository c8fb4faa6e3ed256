//! (in progress) resource_quota.
