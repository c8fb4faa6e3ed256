//! Secret (core/v1): confidential key/value data (passwords, tokens, TLS keys), and
//! [`ByteString`], the base64-in-YAML byte string that Secrets and ConfigMaps share.
//!
//! As in Kubernetes, `stringData` is a write-only convenience: [`SetDefaults`] merges it into
//! `data` (a key in both takes the `stringData` value) and clears it, so stored Secrets only have
//! `data`. The `type` selects extra validation: a `kubernetes.io/tls` Secret must hold `tls.crt`
//! and `tls.key`, a `kubernetes.io/dockerconfigjson` one a JSON `.dockerconfigjson`, and so on.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::config_map::{is_config_map_key, MAX_CONFIG_DATA_SIZE};
use crate::meta::ObjectMeta;
use crate::validation::{check_syntax, ErrorList, FieldError, FieldPath, SetDefaults, Validate};

/// Key of the certificate chain in a `kubernetes.io/tls` Secret.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Key of the private key in a `kubernetes.io/tls` Secret.
pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";
/// Key of the registry credentials in a `kubernetes.io/dockerconfigjson` Secret.
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
/// Key of the registry credentials in a legacy `kubernetes.io/dockercfg` Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockercfg";
/// Key of the user name in a `kubernetes.io/basic-auth` Secret.
pub const BASIC_AUTH_USERNAME_KEY: &str = "username";
/// Key of the password in a `kubernetes.io/basic-auth` Secret.
pub const BASIC_AUTH_PASSWORD_KEY: &str = "password";
/// Key of the private key in a `kubernetes.io/ssh-auth` Secret.
pub const SSH_AUTH_PRIVATE_KEY: &str = "ssh-privatekey";
/// Annotation naming the ServiceAccount of a `kubernetes.io/service-account-token` Secret.
pub const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";

/// Bytes that are written as a base64 string (standard alphabet, padded), as Kubernetes writes
/// `[]byte` fields: Secret `data` and ConfigMap `binaryData`.
///
/// Line breaks inside the base64 text are ignored, as Go's decoder ignores them. `Debug` prints
/// only the length, so that secret values do not end up in logs.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteString(pub Vec<u8>);

impl ByteString {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes base64 text (standard alphabet, padded; `\r` and `\n` ignored).
    pub fn from_base64(text: &str) -> Result<ByteString, base64::DecodeError> {
        let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(ByteString)
    }

    /// The bytes as base64 text.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteString({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for ByteString {
    fn from(bytes: Vec<u8>) -> Self {
        ByteString(bytes)
    }
}

impl From<&[u8]> for ByteString {
    fn from(bytes: &[u8]) -> Self {
        ByteString(bytes.to_vec())
    }
}

impl From<&str> for ByteString {
    fn from(text: &str) -> Self {
        ByteString(text.as_bytes().to_vec())
    }
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64-encoded string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteString, E> {
                ByteString::from_base64(v).map_err(|e| {
                    E::custom(format_args!(
                        "invalid base64 data ({e}); values must be base64-encoded"
                    ))
                })
            }

            // `key:` with no value is null, which Kubernetes reads as no bytes.
            fn visit_unit<E: serde::de::Error>(self) -> Result<ByteString, E> {
                Ok(ByteString::default())
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<ByteString, E> {
                Ok(ByteString::default())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The type of a Secret, which says what keys it must hold. Kubernetes lets users define their
/// own types (any string), kept as [`SecretType::Other`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretType {
    /// `Opaque`: arbitrary user data (the default).
    #[default]
    Opaque,
    /// `kubernetes.io/service-account-token`: a token for a ServiceAccount named by the
    /// `kubernetes.io/service-account.name` annotation.
    ServiceAccountToken,
    /// `kubernetes.io/dockercfg`: legacy `~/.dockercfg` registry credentials in `.dockercfg`.
    Dockercfg,
    /// `kubernetes.io/dockerconfigjson`: `~/.docker/config.json` credentials in
    /// `.dockerconfigjson`.
    DockerConfigJson,
    /// `kubernetes.io/basic-auth`: `username` and/or `password`.
    BasicAuth,
    /// `kubernetes.io/ssh-auth`: an SSH key in `ssh-privatekey`.
    SshAuth,
    /// `kubernetes.io/tls`: a certificate in `tls.crt` and its key in `tls.key`.
    Tls,
    /// `bootstrap.kubernetes.io/token`: a node bootstrap token.
    BootstrapToken,
    /// Any other (user-defined) type.
    Other(String),
}

impl SecretType {
    /// The type as written in `type:`.
    pub fn as_str(&self) -> &str {
        match self {
            SecretType::Opaque => "Opaque",
            SecretType::ServiceAccountToken => "kubernetes.io/service-account-token",
            SecretType::Dockercfg => "kubernetes.io/dockercfg",
            SecretType::DockerConfigJson => "kubernetes.io/dockerconfigjson",
            SecretType::BasicAuth => "kubernetes.io/basic-auth",
            SecretType::SshAuth => "kubernetes.io/ssh-auth",
            SecretType::Tls => "kubernetes.io/tls",
            SecretType::BootstrapToken => "bootstrap.kubernetes.io/token",
            SecretType::Other(s) => s,
        }
    }

    /// Reads a `type:` value; the empty string is `Opaque`, as Kubernetes defaults it.
    pub fn parse(value: &str) -> SecretType {
        match value {
            "" | "Opaque" => SecretType::Opaque,
            "kubernetes.io/service-account-token" => SecretType::ServiceAccountToken,
            "kubernetes.io/dockercfg" => SecretType::Dockercfg,
            "kubernetes.io/dockerconfigjson" => SecretType::DockerConfigJson,
            "kubernetes.io/basic-auth" => SecretType::BasicAuth,
            "kubernetes.io/ssh-auth" => SecretType::SshAuth,
            "kubernetes.io/tls" => SecretType::Tls,
            "bootstrap.kubernetes.io/token" => SecretType::BootstrapToken,
            other => SecretType::Other(other.to_string()),
        }
    }
}

impl fmt::Display for SecretType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SecretType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SecretType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `type: null` is unset, like `""`.
        let value = Option::<String>::deserialize(deserializer)?;
        Ok(SecretType::parse(value.as_deref().unwrap_or("")))
    }
}

/// A Secret: confidential data for pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When `true`, `data` can no longer be updated (and `immutable` cannot be unset). Unset
    /// means mutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// The secret values by key, base64-encoded in YAML and JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, ByteString>,
    /// Write-only plain-text values, merged into `data` (overriding it) by defaulting.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// What the Secret holds; `Opaque` when unset.
    #[serde(default, rename = "type")]
    pub r#type: SecretType,
}

impl Secret {
    /// The value of `key`: from `stringData` if there (it wins, as on the API server), else from
    /// `data`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.string_data
            .get(key)
            .map(|v| v.as_bytes())
            .or_else(|| self.data.get(key).map(ByteString::as_slice))
    }

    /// Whether `key` is present in `data` or `stringData`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.string_data.contains_key(key) || self.data.contains_key(key)
    }

    /// Whether the Secret is marked immutable.
    pub fn is_immutable(&self) -> bool {
        self.immutable == Some(true)
    }

    /// `data` with `stringData` merged in, as the API server stores it.
    fn merged_data(&self) -> BTreeMap<&str, &[u8]> {
        let mut merged: BTreeMap<&str, &[u8]> = self
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        for (k, v) in &self.string_data {
            merged.insert(k, v.as_bytes());
        }
        merged
    }
}

impl SetDefaults for Secret {
    /// Merges `stringData` into `data` and clears it (Kubernetes does this when it converts the
    /// v1 object, before validation); the type is `Opaque` unless set.
    fn set_defaults(&mut self) {
        for (k, v) in std::mem::take(&mut self.string_data) {
            self.data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

impl Validate for Secret {
    // pkg/apis/core/validation: ValidateSecret. It runs after the stringData merge; here both
    // maps are checked so that an undefaulted Secret gets the same verdict.
    fn validate(&self) -> ErrorList {
        let mut errs = ErrorList::new();
        let data_path = FieldPath::new("data");
        for key in self.data.keys() {
            check_syntax(&mut errs, &data_path.key(key), key, is_config_map_key);
        }
        let string_path = FieldPath::new("stringData");
        for key in self.string_data.keys() {
            check_syntax(&mut errs, &string_path.key(key), key, is_config_map_key);
        }
        let merged = self.merged_data();
        let total: usize = merged.values().map(|v| v.len()).sum();
        if total > MAX_CONFIG_DATA_SIZE {
            errs.push(FieldError::too_long(&data_path, MAX_CONFIG_DATA_SIZE));
        }

        let required = |errs: &mut ErrorList, key: &str| {
            errs.push(FieldError::required(&data_path.key(key), ""));
        };
        let check_json = |errs: &mut ErrorList, key: &str| match merged.get(key) {
            None => required(errs, key),
            Some(bytes) => {
                if let Err(e) =
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
                {
                    errs.push(FieldError::invalid(
                        &data_path.key(key),
                        "<secret contents redacted>",
                        e.to_string(),
                    ));
                }
            }
        };
        match &self.r#type {
            SecretType::ServiceAccountToken => {
                let name = self.metadata.annotations.get(SERVICE_ACCOUNT_NAME_KEY);
                if name.is_none_or(|n| n.is_empty()) {
                    let path = FieldPath::new("metadata")
                        .child("annotations")
                        .key(SERVICE_ACCOUNT_NAME_KEY);
                    errs.push(FieldError::required(&path, ""));
                }
            }
            SecretType::Dockercfg => check_json(&mut errs, DOCKER_CONFIG_KEY),
            SecretType::DockerConfigJson => check_json(&mut errs, DOCKER_CONFIG_JSON_KEY),
            SecretType::BasicAuth => {
                // Either may be empty, but at least one of the keys must be there.
                if !merged.contains_key(BASIC_AUTH_USERNAME_KEY)
                    && !merged.contains_key(BASIC_AUTH_PASSWORD_KEY)
                {
                    required(&mut errs, BASIC_AUTH_USERNAME_KEY);
                    required(&mut errs, BASIC_AUTH_PASSWORD_KEY);
                }
            }
            SecretType::SshAuth => {
                if merged
                    .get(SSH_AUTH_PRIVATE_KEY)
                    .is_none_or(|v| v.is_empty())
                {
                    required(&mut errs, SSH_AUTH_PRIVATE_KEY);
                }
            }
            SecretType::Tls => {
                for key in [TLS_CERT_KEY, TLS_PRIVATE_KEY_KEY] {
                    if !merged.contains_key(key) {
                        required(&mut errs, key);
                    }
                }
            }
            SecretType::Opaque | SecretType::BootstrapToken | SecretType::Other(_) => {}
        }
        errs
    }

    // pkg/apis/core/validation: ValidateSecretUpdate.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let mut errs = ErrorList::new();
        if self.r#type != old.r#type {
            errs.push(FieldError::invalid(
                &FieldPath::new("type"),
                self.r#type.as_str(),
                "field is immutable",
            ));
        }
        if old.is_immutable() {
            let msg = "field is immutable when `immutable` is set";
            if !self.is_immutable() {
                errs.push(FieldError::forbidden(&FieldPath::new("immutable"), msg));
            }
            if self.merged_data() != old.merged_data() {
                errs.push(FieldError::forbidden(&FieldPath::new("data"), msg));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::config_map::tests::valid_docs_of_kind;

    fn text(errs: &ErrorList) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn secret(r#type: SecretType, keys: &[(&str, &str)]) -> Secret {
        let mut s = Secret {
            r#type,
            ..Secret::default()
        };
        for (k, v) in keys {
            s.data.insert(k.to_string(), ByteString::from(*v));
        }
        s
    }

    #[test]
    fn byte_strings_are_base64() {
        let b: ByteString = serde_yaml::from_str("YWRtaW4=").expect("decodes");
        assert_eq!(b.as_slice(), b"admin");
        assert_eq!(serde_json::to_string(&b).expect("encodes"), "\"YWRtaW4=\"");
        // Folded over lines, as `base64` prints long values.
        let b: ByteString = serde_yaml::from_str("|\n  YWRt\n  aW4=\n").expect("decodes");
        assert_eq!(b.as_slice(), b"admin");
        let empty: ByteString = serde_yaml::from_str("~").expect("null is empty");
        assert!(empty.is_empty());
        for bad in ["YWRtaW4", "admin!", "YW=Rt"] {
            let err = serde_yaml::from_str::<ByteString>(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid base64 data"), "{err}");
        }
        assert_eq!(
            format!("{:?}", ByteString::from("hunter2")),
            "ByteString(7 bytes)"
        );
    }

    #[test]
    fn reads_a_secret_and_merges_string_data() {
        let yaml = r#"
metadata:
  name: db-credentials
type: Opaque
data:
  username: YWRtaW4=
  password: b2xk
stringData:
  password: s3cr3t
  config.yaml: "apiUrl: https://example.com"
"#;
        let mut s: Secret = serde_yaml::from_str(yaml).expect("decodes");
        assert_eq!(
            s.get("password"),
            Some(&b"s3cr3t"[..]),
            "stringData wins before defaulting"
        );
        assert!(s.validate().is_empty());
        s.set_defaults();
        assert!(s.string_data.is_empty());
        assert_eq!(s.data["username"].as_slice(), b"admin");
        assert_eq!(s.data["password"].as_slice(), b"s3cr3t");
        assert_eq!(
            s.data["config.yaml"].as_slice(),
            b"apiUrl: https://example.com"
        );
        let json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["data"]["password"], "czNjcjN0");
        assert_eq!(json["type"], "Opaque");
        assert!(json.get("stringData").is_none());
    }

    #[test]
    fn type_defaults_to_opaque_and_keeps_custom_types() {
        let s: Secret = serde_yaml::from_str("metadata: {name: x}").expect("decodes");
        assert_eq!(s.r#type, SecretType::Opaque);
        let s: Secret = serde_yaml::from_str("type: ''").expect("decodes");
        assert_eq!(s.r#type, SecretType::Opaque);
        let s: Secret = serde_yaml::from_str("type: ~").expect("decodes");
        assert_eq!(s.r#type, SecretType::Opaque);
        let s: Secret = serde_yaml::from_str("type: kubernetes.io/tls").expect("decodes");
        assert_eq!(s.r#type, SecretType::Tls);
        let s: Secret = serde_yaml::from_str("type: example.com/token").expect("decodes");
        assert_eq!(s.r#type, SecretType::Other("example.com/token".into()));
        assert_eq!(
            serde_json::to_value(&s).expect("serializes")["type"],
            "example.com/token"
        );
    }

    #[test]
    fn keys_and_size_are_checked() {
        let mut s = secret(SecretType::Opaque, &[("ok", "1")]);
        s.string_data.insert("not/ok".into(), "x".into());
        let errs = text(&s.validate());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0]
                .starts_with("stringData[not/ok]: Invalid value: \"not/ok\": a valid config key"),
            "{errs:?}"
        );

        let mut s = Secret::default();
        s.data
            .insert("a".into(), ByteString(vec![0; MAX_CONFIG_DATA_SIZE]));
        assert!(s.validate().is_empty());
        s.string_data.insert("b".into(), "x".into());
        assert_eq!(
            text(&s.validate()),
            vec!["data: Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn tls_secrets_need_a_certificate_and_a_key() {
        let s = secret(SecretType::Tls, &[("tls.crt", "cert")]);
        assert_eq!(text(&s.validate()), vec!["data[tls.key]: Required value"]);
        let s = secret(SecretType::Tls, &[]);
        assert_eq!(
            text(&s.validate()),
            vec![
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value"
            ]
        );
        let mut s = secret(SecretType::Tls, &[("tls.crt", "cert")]);
        s.string_data.insert("tls.key".into(), "key".into());
        assert!(s.validate().is_empty());
    }

    #[test]
    fn docker_config_json_must_be_a_json_object() {
        let s = secret(SecretType::DockerConfigJson, &[]);
        assert_eq!(
            text(&s.validate()),
            vec!["data[.dockerconfigjson]: Required value"]
        );
        let s = secret(
            SecretType::DockerConfigJson,
            &[(".dockerconfigjson", "{\"auths\":{}}")],
        );
        assert!(s.validate().is_empty());
        let s = secret(
            SecretType::DockerConfigJson,
            &[(".dockerconfigjson", "{\"auths\":")],
        );
        let errs = text(&s.validate());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with(
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": EOF"
            ),
            "{errs:?}"
        );
        let s = secret(SecretType::Dockercfg, &[(".dockercfg", "[1]")]);
        let errs = text(&s.validate());
        assert_eq!(errs.len(), 1, "an array is not a config object");
        assert!(
            errs[0].starts_with("data[.dockercfg]: Invalid value"),
            "{errs:?}"
        );
    }

    #[test]
    fn auth_secrets_need_their_keys() {
        let s = secret(SecretType::BasicAuth, &[]);
        assert_eq!(
            text(&s.validate()),
            vec![
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        assert!(secret(SecretType::BasicAuth, &[("password", "")])
            .validate()
            .is_empty());
        let s = secret(SecretType::SshAuth, &[("ssh-privatekey", "")]);
        assert_eq!(
            text(&s.validate()),
            vec!["data[ssh-privatekey]: Required value"]
        );
        assert!(secret(SecretType::SshAuth, &[("ssh-privatekey", "KEY")])
            .validate()
            .is_empty());
    }

    #[test]
    fn service_account_tokens_name_their_account() {
        let mut s = secret(SecretType::ServiceAccountToken, &[]);
        assert_eq!(
            text(&s.validate()),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        s.metadata
            .annotations
            .insert(SERVICE_ACCOUNT_NAME_KEY.into(), "build-robot".into());
        assert!(s.validate().is_empty());
    }

    #[test]
    fn type_is_immutable_and_immutable_data_stays() {
        let old = secret(SecretType::Opaque, &[("k", "v")]);
        let new = secret(SecretType::Tls, &[("tls.crt", "c"), ("tls.key", "k")]);
        assert_eq!(
            text(&new.validate_update(&old)),
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );

        let mut old = secret(SecretType::Opaque, &[("k", "v")]);
        old.immutable = Some(true);
        let mut same = old.clone();
        // Writing the same value through stringData is not a change.
        same.data.clear();
        same.string_data.insert("k".into(), "v".into());
        assert!(same.validate_update(&old).is_empty());
        let mut changed = old.clone();
        changed.string_data.insert("k".into(), "w".into());
        changed.immutable = Some(false);
        assert_eq!(
            text(&changed.validate_update(&old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
    }

    #[test]
    fn example_manifest_is_valid() {
        let secrets: Vec<Secret> =
            valid_docs_of_kind(include_str!("../../../examples/manifests/secret.yaml"));
        let web = secrets
            .iter()
            .find(|s| s.metadata.name == "web-secret")
            .expect("web-secret");
        assert_eq!(web.metadata.namespace, "shop");
        assert!(web.string_data.is_empty(), "defaulting merged stringData");
        assert!(secrets.iter().any(|s| s.r#type == SecretType::Tls));
    }
}
