//! ConfigMap (core/v1): non-confidential configuration as key/value pairs, consumed by pods as
//! environment variables, command-line arguments or files in a volume.
//!
//! Text values live in `data`, arbitrary bytes (base64 in YAML) in `binaryData`. Keys are file
//! names when the ConfigMap is mounted, hence Kubernetes' key syntax ([`is_config_map_key`]). An
//! `immutable: true` ConfigMap can no longer change its data (it can still be deleted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::secret::ByteString;
use crate::meta::ObjectMeta;
use crate::validation::{
    check_syntax, ErrorList, FieldError, FieldPath, SetDefaults, Validate,
    DNS1123_SUBDOMAIN_MAX_LEN,
};

/// The largest total size of a ConfigMap's or Secret's values, in bytes (1 MiB; Kubernetes'
/// `MaxSecretSize`, which also bounds ConfigMaps).
pub const MAX_CONFIG_DATA_SIZE: usize = 1024 * 1024;

/// A ConfigMap: configuration data for pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When `true`, `data` and `binaryData` can no longer be updated (and `immutable` cannot be
    /// unset). Unset means mutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// UTF-8 configuration values by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Binary configuration values by key, base64-encoded in YAML and JSON. A key may not appear
    /// in both `data` and `binaryData`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, ByteString>,
}

impl ConfigMap {
    /// The value of `key` as bytes, from `data` or `binaryData`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data
            .get(key)
            .map(|v| v.as_bytes())
            .or_else(|| self.binary_data.get(key).map(|v| v.as_slice()))
    }

    /// Whether the ConfigMap is marked immutable.
    pub fn is_immutable(&self) -> bool {
        self.immutable == Some(true)
    }
}

/// Checks a key of a ConfigMap or Secret, as Kubernetes' `IsConfigMapKey` does: at most 253
/// characters of alphanumerics, `-`, `_` and `.`, and not `.`, `..` or anything starting with `..`
/// (keys become file names in a volume).
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LEN} characters"
        ));
    }
    let charset_ok = !value.is_empty()
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !charset_ok {
        errs.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. \
             'key.name',  or 'KEY_NAME',  or 'key-name')"
                .to_string(),
        );
    }
    if value == "." {
        errs.push("must not be '.'".to_string());
    } else if value == ".." {
        errs.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

impl Validate for ConfigMap {
    // pkg/apis/core/validation: ValidateConfigMap.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let data_path = FieldPath::new("data");
        let binary_path = FieldPath::new("binaryData");
        let mut total = 0;
        for (key, value) in &self.data {
            check_syntax(&mut errs, &data_path.key(key), key, is_config_map_key);
            if self.binary_data.contains_key(key) {
                errs.push(FieldError::invalid(
                    &data_path.key(key),
                    key,
                    "duplicate of key present in binaryData",
                ));
            }
            total += value.len();
        }
        for (key, value) in &self.binary_data {
            check_syntax(&mut errs, &binary_path.key(key), key, is_config_map_key);
            total += value.len();
        }
        if total > MAX_CONFIG_DATA_SIZE {
            // Kubernetes reports the size against the whole object (an empty path).
            errs.push(FieldError::too_long(
                &FieldPath::root(),
                MAX_CONFIG_DATA_SIZE,
            ));
        }
        errs
    }

    // pkg/apis/core/validation: ValidateConfigMapUpdate.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        if old.is_immutable() {
            let msg = "field is immutable when `immutable` is set";
            if !self.is_immutable() {
                errs.push(FieldError::forbidden(&FieldPath::new("immutable"), msg));
            }
            if self.data != old.data {
                errs.push(FieldError::forbidden(&FieldPath::new("data"), msg));
            }
            if self.binary_data != old.binary_data {
                errs.push(FieldError::forbidden(&FieldPath::new("binaryData"), msg));
            }
        }
        errs
    }
}

impl SetDefaults for ConfigMap {
    /// Kubernetes defines no defaults for ConfigMaps.
    fn set_defaults(&mut self) {}
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::object::Resource;

    /// Every document of `yaml` whose `kind` is `T`'s, decoded (without `apiVersion` and `kind`),
    /// defaulted, and checked to pass full validation. Shared by the tests of the kinds whose
    /// example manifests live in `examples/manifests/`.
    ///
    /// The text must also pass the manifest loader without warnings (no unknown fields) and its
    /// checks (defaults and validation of every object, located in the file).
    pub(crate) fn valid_docs_of_kind<T: Resource>(yaml: &str) -> Vec<T> {
        use serde::Deserialize as _;
        let loaded = crate::manifest::parse_str("example.yaml", yaml).expect("manifest loads");
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert!(warnings.is_empty(), "{warnings:?}");
        let problems: Vec<String> = loaded.check().iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{problems:?}");

        let mut out = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let mut value = serde_yaml::Value::deserialize(doc).expect("manifest is YAML");
            let serde_yaml::Value::Mapping(map) = &mut value else {
                continue;
            };
            let kind = map
                .remove("kind")
                .and_then(|k| k.as_str().map(str::to_string));
            let api_version = map
                .remove("apiVersion")
                .and_then(|k| k.as_str().map(str::to_string));
            if kind.as_deref() != Some(T::KIND.name()) {
                continue;
            }
            assert_eq!(api_version.as_deref(), Some(T::KIND.api_version()));
            let mut object: T = serde_yaml::from_value(value).expect("manifest decodes");
            object.set_defaults();
            let errs = object.validate_object();
            assert!(
                errs.is_empty(),
                "{} {:?}: {errs:?}",
                T::KIND,
                object.metadata().name
            );
            out.push(object);
        }
        out
    }

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_data_and_binary_data() {
        let yaml = r#"
metadata:
  name: game-demo
data:
  player_initial_lives: "3"
  game.properties: |
    enemy.types=aliens,monsters
binaryData:
  logo.png: iVBORw0KGgo=
immutable: true
"#;
        let cm: ConfigMap = serde_yaml::from_str(yaml).expect("decodes");
        assert_eq!(cm.data["player_initial_lives"], "3");
        assert_eq!(
            cm.get("game.properties"),
            Some(&b"enemy.types=aliens,monsters\n"[..])
        );
        assert_eq!(
            cm.get("logo.png"),
            Some(&[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'][..])
        );
        assert!(cm.is_immutable());
        assert!(cm.validate().is_empty());
        let json = serde_json::to_value(&cm).expect("serializes");
        assert_eq!(json["binaryData"]["logo.png"], "iVBORw0KGgo=");
    }

    #[test]
    fn bad_base64_is_a_clear_error() {
        let err = serde_yaml::from_str::<ConfigMap>("binaryData:\n  x: 'not base64!'\n")
            .expect_err("must fail");
        assert!(err.to_string().contains("invalid base64"), "{err}");
    }

    #[test]
    fn keys_follow_kubernetes_syntax() {
        assert!(is_config_map_key("game.properties").is_empty());
        assert!(is_config_map_key("KEY_NAME-1").is_empty());
        assert!(is_config_map_key(".hidden").is_empty());
        assert_eq!(is_config_map_key(".."), vec!["must not be '..'"]);
        assert_eq!(
            is_config_map_key("..data"),
            vec!["must not start with '..'"]
        );
        assert_eq!(is_config_map_key("."), vec!["must not be '.'"]);
        assert_eq!(
            is_config_map_key("a/b"),
            vec!["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name')"]
        );
        assert_eq!(is_config_map_key("").len(), 1);
        assert_eq!(
            is_config_map_key(&"k".repeat(254)),
            vec!["must be no more than 253 characters"]
        );

        let mut cm = ConfigMap::default();
        cm.data.insert("bad key".into(), "v".into());
        let errs = text(&cm.validate());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with(
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of"
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn a_key_may_not_be_in_both_maps() {
        let mut cm = ConfigMap::default();
        cm.data.insert("k".into(), "v".into());
        cm.binary_data.insert("k".into(), ByteString::from("v"));
        assert_eq!(
            text(&cm.validate()),
            vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"]
        );
    }

    #[test]
    fn total_size_is_limited_to_one_mebibyte() {
        let mut cm = ConfigMap::default();
        cm.data
            .insert("a".into(), "x".repeat(MAX_CONFIG_DATA_SIZE / 2));
        cm.binary_data
            .insert("b".into(), ByteString(vec![0; MAX_CONFIG_DATA_SIZE / 2]));
        assert!(cm.validate().is_empty());
        cm.binary_data.insert("c".into(), ByteString(vec![0]));
        assert_eq!(
            text(&cm.validate()),
            vec![": Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_config_maps_keep_their_data() {
        let mut old = ConfigMap::default();
        old.data.insert("k".into(), "v".into());
        let mut new = old.clone();
        new.data.insert("k".into(), "w".into());
        assert!(
            new.validate_update(&old).is_empty(),
            "mutable: any change is fine"
        );

        old.immutable = Some(true);
        new.immutable = Some(true);
        assert_eq!(
            text(&new.validate_update(&old)),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let mut new = old.clone();
        new.immutable = None;
        new.binary_data.insert("b".into(), ByteString::from("x"));
        assert_eq!(
            text(&new.validate_update(&old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "binaryData: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        // Becoming immutable is allowed.
        let mut mutable = old.clone();
        mutable.immutable = Some(false);
        assert!(old.validate_update(&mutable).is_empty());
    }

    #[test]
    fn example_manifest_is_valid() {
        let maps: Vec<ConfigMap> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/config-map.yaml"));
        let web = maps
            .iter()
            .find(|c| c.metadata.name == "web-config")
            .expect("web-config");
        assert_eq!(web.metadata.namespace, "shop");
        assert!(!web.data.is_empty());
    }
}
