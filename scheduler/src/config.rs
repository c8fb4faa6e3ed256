//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`): reading, defaulting,
//! validation, and turning each `profiles[]` entry into a [`Profile`] of plugin instances.
//!
//! Plugin sets merge as kube-scheduler v1.34 merges them (apis/config/v1/default_plugins.go
//! `mergePluginSet`, framework/runtime/framework.go `expandMultiPointPlugins`):
//! - the default plugins are enabled through `multiPoint`; the user's `multiPoint.disabled` (with
//!   `*` for all) removes defaults, and a default plugin enabled again in `multiPoint` is
//!   reconfigured in place (it keeps its position, with the new weight); other user plugins
//!   follow;
//! - at each extension point, the order is: plugins enabled explicitly there that are also
//!   `multiPoint` plugins (in the order written there), then the other `multiPoint` plugins that
//!   implement the point and are not disabled there (none with `disabled: [{name: "*"}]`), then
//!   the rest of the plugins enabled there;
//! - a score plugin's weight is the one written at `score` if it is enabled there, else its
//!   `multiPoint` weight; 0 or unset means 1 (`getScoreWeights`).
//!
//! Errors name the field, in the API server's words (apis/config/validation/validation.go):
//! `profiles[1].schedulerName: Duplicate value: profiles[0].schedulerName`,
//! `profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: 101: not in valid
//! range [0, 100]`. Where kube-scheduler reports a problem without a path (an unknown plugin,
//! a plugin at a point it does not implement), Flotilla names the entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::framework::Plugin;
use crate::profile::{Profile, WeightedPlugin};

/// The configuration's `apiVersion`.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The name of the profile pods get when they name no scheduler.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// A KubeSchedulerConfiguration as written in its file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeSchedulerConfiguration {
    /// Must be `kubescheduler.config.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// Must be `KubeSchedulerConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Worker count for filtering and scoring (kube-scheduler default 16); Flotilla uses rayon's
    /// pool and checks only that the value is positive.
    #[serde(default)]
    pub parallelism: Option<i32>,
    /// Percentage of nodes to find feasible before scoring; 0 or unset means adaptive.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Initial back-off of an unschedulable pod, seconds (default 1).
    #[serde(default)]
    pub pod_initial_backoff_seconds: Option<i64>,
    /// Maximum back-off, seconds (default 10).
    #[serde(default)]
    pub pod_max_backoff_seconds: Option<i64>,
    /// The profiles; none means one default profile.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// Accepted for compatibility and not used: `leaderElection`.
    #[serde(default)]
    pub leader_election: Option<serde_json::Value>,
    /// Accepted for compatibility and not used: `clientConnection`.
    #[serde(default)]
    pub client_connection: Option<serde_json::Value>,
    /// Accepted for compatibility and not used: `healthzBindAddress`.
    #[serde(default)]
    pub healthz_bind_address: Option<serde_json::Value>,
    /// Accepted for compatibility and not used: `metricsBindAddress`.
    #[serde(default)]
    pub metrics_bind_address: Option<serde_json::Value>,
    /// Accepted for compatibility and not used: `enableProfiling`.
    #[serde(default)]
    pub enable_profiling: Option<bool>,
    /// Accepted for compatibility and not used: `enableContentionProfiling`.
    #[serde(default)]
    pub enable_contention_profiling: Option<bool>,
    /// Accepted for compatibility and not used: `delayCacheUntilActive`.
    #[serde(default)]
    pub delay_cache_until_active: Option<bool>,
    /// Scheduler extenders (webhooks) are not supported; a non-empty list is rejected.
    #[serde(default)]
    pub extenders: Vec<serde_json::Value>,
}

/// One `profiles[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileConfig {
    /// The scheduler name the profile serves (default `default-scheduler`).
    #[serde(default)]
    pub scheduler_name: Option<String>,
    /// Per-profile percentage of nodes to score.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Plugins enabled and disabled per extension point.
    #[serde(default)]
    pub plugins: Option<Plugins>,
    /// Arguments per plugin.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

/// Plugin sets per extension point.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Plugins {
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    #[serde(default)]
    pub queue_sort: PluginSet,
    #[serde(default)]
    pub pre_filter: PluginSet,
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub post_filter: PluginSet,
    #[serde(default)]
    pub pre_score: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
    #[serde(default)]
    pub reserve: PluginSet,
    #[serde(default)]
    pub permit: PluginSet,
    #[serde(default)]
    pub pre_bind: PluginSet,
    #[serde(default)]
    pub bind: PluginSet,
    #[serde(default)]
    pub post_bind: PluginSet,
    /// Plugins enabled at every extension point they implement.
    #[serde(default)]
    pub multi_point: PluginSet,
}

/// Enabled and disabled plugins of one extension point.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSet {
    /// Plugins to enable, in order.
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Plugins to disable; `*` disables every default plugin.
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// A plugin by name, with a score weight.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginRef {
    /// The plugin's name.
    pub name: String,
    /// Score weight (Score and multiPoint only).
    #[serde(default)]
    pub weight: Option<i32>,
}

/// Arguments for one plugin.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin's name.
    pub name: String,
    /// Its arguments (the plugin's `…Args` object; `apiVersion`/`kind` inside are ignored).
    #[serde(default)]
    pub args: serde_json::Value,
}

/// Why a configuration was rejected; every problem, each naming its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not a well-formed configuration (YAML or type errors, unknown fields).
    #[error("{0}")]
    Decode(String),
    /// The configuration decoded but is invalid.
    #[error("invalid KubeSchedulerConfiguration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Creates a plugin instance from its arguments (`Null` when the configuration gives none).
pub type PluginFactory =
    Arc<dyn Fn(&serde_json::Value) -> Result<Arc<dyn Plugin>, Vec<String>> + Send + Sync>;

/// Plugin constructors by name: the in-tree plugins plus any a user registers.
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, PluginFactory>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a plugin constructor under `name`, replacing any earlier one.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl Fn(&serde_json::Value) -> Result<Arc<dyn Plugin>, Vec<String>>
            + Send
            + Sync
            + 'static,
    ) {
        self.factories.insert(name.to_string(), Arc::new(factory));
    }

    /// Whether a plugin of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.factories.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    fn create(
        &self,
        name: &str,
        args: &serde_json::Value,
    ) -> Option<Result<Arc<dyn Plugin>, Vec<String>>> {
        self.factories.get(name).map(|f| f(args))
    }
}

/// kube-scheduler v1.34's default `multiPoint` plugins with their score weights, in order
/// (pkg/scheduler/apis/config/v1/default_plugins.go). Entries whose plugin is not registered
/// are left out of the default profile.
pub const DEFAULT_PLUGINS: &[(&str, i32)] = &[
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("NodeVolumeLimits", 0),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

/// The scheduler's settings after reading a configuration: the global knobs and one profile per
/// scheduler name.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Global `percentageOfNodesToScore` (0: adaptive).
    pub percentage_of_nodes_to_score: i32,
    /// Initial back-off, seconds.
    pub pod_initial_backoff_seconds: i64,
    /// Maximum back-off, seconds.
    pub pod_max_backoff_seconds: i64,
    /// Profiles by scheduler name.
    pub profiles: BTreeMap<String, Profile>,
}

impl SchedulerConfig {
    /// kube-scheduler's configuration when no file is given: one `default-scheduler` profile
    /// with the default plugins.
    pub fn default_with(registry: &Registry) -> Result<SchedulerConfig, ConfigError> {
        SchedulerConfig::from_config(&KubeSchedulerConfiguration::default(), registry)
    }

    /// Parses YAML (or JSON) text of a KubeSchedulerConfiguration and builds the profiles.
    ///
    /// As kube-scheduler's loader does, a file must name its `apiVersion` and `kind`; decoding
    /// is strict (an unknown field is an error naming it).
    pub fn from_yaml(text: &str, registry: &Registry) -> Result<SchedulerConfig, ConfigError> {
        let config: KubeSchedulerConfiguration =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Decode(e.to_string()))?;
        let mut missing = Vec::new();
        if config.api_version.is_empty() {
            missing.push("apiVersion: Required value".to_string());
        }
        if config.kind.is_empty() {
            missing.push("kind: Required value".to_string());
        }
        if !missing.is_empty() {
            return Err(ConfigError::Invalid(missing));
        }
        SchedulerConfig::from_config(&config, registry)
    }

    /// Validates a configuration and builds its profiles.
    pub fn from_config(
        config: &KubeSchedulerConfiguration,
        registry: &Registry,
    ) -> Result<SchedulerConfig, ConfigError> {
        let mut errs = Vec::new();
        if !config.api_version.is_empty() && config.api_version != API_VERSION {
            errs.push(format!(
                "apiVersion: Unsupported value: {:?}: supported values: {API_VERSION:?}",
                config.api_version
            ));
        }
        if !config.kind.is_empty() && config.kind != "KubeSchedulerConfiguration" {
            errs.push(format!(
                "kind: Unsupported value: {:?}: supported values: \"KubeSchedulerConfiguration\"",
                config.kind
            ));
        }
        if let Some(p) = config.parallelism {
            if p <= 0 {
                errs.push(format!(
                    "parallelism: Invalid value: {p}: should be an integer value greater than zero"
                ));
            }
        }
        check_percentage(
            &mut errs,
            "percentageOfNodesToScore",
            config.percentage_of_nodes_to_score,
        );
        let initial = config.pod_initial_backoff_seconds.unwrap_or(1);
        let max = config.pod_max_backoff_seconds.unwrap_or(10);
        if initial <= 0 {
            errs.push(format!(
                "podInitialBackoffSeconds: Invalid value: {initial}: must be greater than 0"
            ));
        }
        if max < initial {
            errs.push(format!(
                "podMaxBackoffSeconds: Invalid value: {max}: must be greater than or equal to PodInitialBackoffSeconds"
            ));
        }
        if !config.extenders.is_empty() {
            errs.push(
                "extenders: Forbidden: scheduler extenders are not supported by Flotilla"
                    .to_string(),
            );
        }
        let default_profile = [ProfileConfig::default()];
        let profile_configs: &[ProfileConfig] = if config.profiles.is_empty() {
            &default_profile
        } else {
            &config.profiles
        };
        // kube-scheduler names a profile `default-scheduler` only when it is the only one
        // (v1/defaults.go); with several, each must be named.
        let single = profile_configs.len() == 1;
        let mut profiles = BTreeMap::new();
        let mut first_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut queue_sort: Option<(&'static str, usize)> = None;
        for (i, pc) in profile_configs.iter().enumerate() {
            let path = format!("profiles[{i}]");
            let name = match &pc.scheduler_name {
                Some(n) => n.clone(),
                None if single => DEFAULT_SCHEDULER_NAME.to_string(),
                None => String::new(),
            };
            if name.is_empty() {
                errs.push(format!("{path}.schedulerName: Required value"));
            }
            // validation.go: `field.Duplicate(path, profiles[first].schedulerName)`.
            match first_index.get(&name) {
                Some(first) => errs.push(format!(
                    "{path}.schedulerName: Duplicate value: profiles[{first}].schedulerName"
                )),
                None => {
                    first_index.insert(name.clone(), i);
                }
            }
            check_percentage(
                &mut errs,
                &format!("{path}.percentageOfNodesToScore"),
                pc.percentage_of_nodes_to_score,
            );
            match build_profile(pc, &name, &path, registry) {
                Ok(profile) => {
                    // profile.go's cfgValidator: every profile sorts the queue the same way.
                    let sort = profile.queue_sort.as_ref().map_or("", |p| p.name());
                    match queue_sort {
                        None => queue_sort = Some((sort, i)),
                        // Only when the written queueSort sets agree (otherwise
                        // `check_common_queue_sort` reports it, as validation runs first).
                        Some((first, _))
                            if first != sort
                                && queue_sort_set(pc) == queue_sort_set(&profile_configs[0]) =>
                        {
                            errs.push(format!(
                                "{path}.plugins.queueSort: Invalid value: {sort:?}: different queue sort plugins for profile {name:?}: {sort:?}, first: {first:?}"
                            ))
                        }
                        Some(_) => {}
                    }
                    profiles.entry(name).or_insert(profile);
                }
                Err(mut e) => errs.append(&mut e),
            }
        }
        check_common_queue_sort(&mut errs, profile_configs);
        if !errs.is_empty() {
            return Err(ConfigError::Invalid(errs));
        }
        Ok(SchedulerConfig {
            percentage_of_nodes_to_score: config.percentage_of_nodes_to_score.unwrap_or(0),
            pod_initial_backoff_seconds: initial,
            pod_max_backoff_seconds: max,
            profiles,
        })
    }
}

/// validation.go's `validateCommonQueueSort`: the `queueSort` plugin sets written in every
/// profile must be the same, and only one plugin may be enabled there.
fn check_common_queue_sort(errs: &mut Vec<String>, profiles: &[ProfileConfig]) {
    let set_of = queue_sort_set;
    let Some(first) = profiles.first() else {
        return;
    };
    let canon = set_of(first);
    if canon.enabled.len() > 1 {
        errs.push(format!(
            "profiles[0].plugins.queueSort.Enabled: Invalid value: {}: only one queue sort plugin can be enabled",
            canon.enabled.len()
        ));
    }
    for (i, p) in profiles.iter().enumerate().skip(1) {
        let curr = set_of(p);
        if curr != canon {
            errs.push(format!(
                "profiles[{i}].plugins.queueSort: Invalid value: {}: must be the same for all profiles",
                describe_plugin_set(&curr)
            ));
        }
    }
}

/// The `queueSort` plugin set a profile writes (empty when it writes none).
fn queue_sort_set(p: &ProfileConfig) -> PluginSet {
    p.plugins
        .as_ref()
        .map(|pl| pl.queue_sort.clone())
        .unwrap_or_default()
}

/// A plugin set as `{enabled: [A, B], disabled: [*]}`, for error messages.
fn describe_plugin_set(set: &PluginSet) -> String {
    let names = |v: &[PluginRef]| {
        v.iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{{enabled: [{}], disabled: [{}]}}",
        names(&set.enabled),
        names(&set.disabled)
    )
}

fn check_percentage(errs: &mut Vec<String>, path: &str, value: Option<i32>) {
    if let Some(p) = value {
        if !(0..=100).contains(&p) {
            errs.push(format!(
                "{path}: Invalid value: {p}: not in valid range [0-100]"
            ));
        }
    }
}

/// kube-scheduler's `mergePluginSet` (v1/default_plugins.go): defaults minus the disabled ones
/// (all with `*`), default plugins reconfigured in place by a user entry of the same name (the
/// last one, when a name is repeated), then the other user plugins in their order. Each entry
/// comes with its index in the user's `enabled` list, `None` for an untouched default.
fn merge_plugin_set(defaults: &[PluginRef], custom: &PluginSet) -> Vec<(PluginRef, Option<usize>)> {
    let all_disabled = custom.disabled.iter().any(|d| d.name == "*");
    let mut replaced = vec![false; custom.enabled.len()];
    let mut enabled = Vec::new();
    if !all_disabled {
        for d in defaults {
            if custom.disabled.iter().any(|x| x.name == d.name) {
                continue;
            }
            match custom.enabled.iter().rposition(|c| c.name == d.name) {
                Some(i) => {
                    replaced[i] = true;
                    enabled.push((custom.enabled[i].clone(), Some(i)));
                }
                None => enabled.push((d.clone(), None)),
            }
        }
    }
    for (i, c) in custom.enabled.iter().enumerate() {
        if !replaced[i] {
            enabled.push((c.clone(), Some(i)));
        }
    }
    enabled
}

/// Flotilla rejects negative score weights (kube-scheduler v1.34 does not validate them, and a
/// negative weight would turn a plugin's preference around).
fn check_weight(errs: &mut Vec<String>, at: &str, r: &PluginRef) {
    if let Some(w) = r.weight {
        if w < 0 {
            errs.push(format!(
                "{at}.weight: Invalid value: {w}: score plugin weight must be non-negative"
            ));
        }
    }
}

fn build_profile(
    pc: &ProfileConfig,
    name: &str,
    path: &str,
    registry: &Registry,
) -> Result<Profile, Vec<String>> {
    let mut errs = Vec::new();
    let plugins = pc.plugins.clone().unwrap_or_default();
    let defaults: Vec<PluginRef> = DEFAULT_PLUGINS
        .iter()
        .filter(|(n, _)| registry.contains(n))
        .map(|(n, w)| PluginRef {
            name: (*n).to_string(),
            weight: (*w > 0).then_some(*w),
        })
        .collect();
    let merged = merge_plugin_set(&defaults, &plugins.multi_point);
    let multi_point: Vec<PluginRef> = merged.iter().map(|(r, _)| r.clone()).collect();

    // Arguments by plugin name (validation.go: a name configured twice is a duplicate).
    let mut args: BTreeMap<&str, &serde_json::Value> = BTreeMap::new();
    for (i, c) in pc.plugin_config.iter().enumerate() {
        if args.contains_key(c.name.as_str()) {
            errs.push(format!(
                "{path}.pluginConfig[{i}]: Duplicate value: {:?}",
                c.name
            ));
        } else {
            args.insert(c.name.as_str(), &c.args);
        }
        if !registry.contains(&c.name) {
            errs.push(format!(
                "{path}.pluginConfig[{i}].name: Invalid value: {:?}: plugin {:?} does not exist",
                c.name, c.name
            ));
        }
    }

    // One instance per plugin per profile, shared by every extension point.
    let mut instances = Instances {
        map: BTreeMap::new(),
        failed: std::collections::BTreeSet::new(),
        registry,
        args,
        config: pc,
        path,
    };
    let points: [(&str, &PluginSet); 12] = [
        ("preEnqueue", &plugins.pre_enqueue),
        ("queueSort", &plugins.queue_sort),
        ("preFilter", &plugins.pre_filter),
        ("filter", &plugins.filter),
        ("postFilter", &plugins.post_filter),
        ("preScore", &plugins.pre_score),
        ("score", &plugins.score),
        ("reserve", &plugins.reserve),
        ("permit", &plugins.permit),
        ("preBind", &plugins.pre_bind),
        ("bind", &plugins.bind),
        ("postBind", &plugins.post_bind),
    ];
    let mut profile = Profile {
        scheduler_name: name.to_string(),
        percentage_of_nodes_to_score: pc.percentage_of_nodes_to_score,
        ..Profile::default()
    };
    // Instantiate multiPoint plugins first so unknown names are reported at their entry (a
    // default entry names a registered plugin, so only the user's can be unknown).
    for (r, user_index) in &merged {
        let at = match user_index {
            Some(i) => format!("{path}.plugins.multiPoint.enabled[{i}]"),
            None => format!("{path}.plugins.multiPoint"),
        };
        check_weight(&mut errs, &at, r);
        instances.get_or_create(&r.name, &at, &mut errs);
    }
    for (point, set) in points {
        let disabled: Vec<&str> = set.disabled.iter().map(|p| p.name.as_str()).collect();
        let all_disabled = disabled.contains(&"*");
        let mut ordered: Vec<(Arc<dyn Plugin>, i64)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let implements = |p: &dyn Plugin| match point {
            "preEnqueue" => p.as_pre_enqueue().is_some(),
            "queueSort" => p.as_queue_sort().is_some(),
            "preFilter" => p.as_pre_filter().is_some(),
            "filter" => p.as_filter().is_some(),
            "preScore" => p.as_pre_score().is_some(),
            "score" => p.as_score().is_some(),
            "postFilter" => p.as_post_filter().is_some(),
            "bind" => p.as_bind().is_some(),
            _ => false,
        };
        // framework.go `getScoreWeights`: an entry's own weight, 0 or unset meaning 1; a plugin
        // enabled at `score` takes the weight written there, not its multiPoint weight.
        let weight_of = |r: &PluginRef| i64::from(r.weight.filter(|w| *w > 0).unwrap_or(1));
        // Part 1: explicitly enabled here and also in multiPoint (overrides keep this order).
        // Part 3: explicitly enabled here only. Both are visited in the user's order, part 2 between.
        let mut part1 = Vec::new();
        let mut part3 = Vec::new();
        for (i, r) in set.enabled.iter().enumerate() {
            let at = format!("{path}.plugins.{point}.enabled[{i}]");
            check_weight(&mut errs, &at, r);
            let Some(p) = instances.get_or_create(&r.name, &at, &mut errs) else {
                continue;
            };
            if !implements(p.as_ref())
                && !matches!(point, "reserve" | "permit" | "preBind" | "postBind")
            {
                errs.push(format!("{at}: Invalid value: {:?}: plugin does not implement the {point} extension point", r.name));
                continue;
            }
            let entry = (p, weight_of(r));
            if multi_point.iter().any(|m| m.name == r.name) {
                part1.push(entry);
            } else {
                part3.push(entry);
            }
            seen.push(r.name.clone());
        }
        ordered.extend(part1);
        for r in &multi_point {
            if seen.contains(&r.name) || all_disabled || disabled.contains(&r.name.as_str()) {
                continue;
            }
            if let Some(p) = instances.map.get(&r.name) {
                if implements(p.as_ref()) {
                    ordered.push((p.clone(), weight_of(r)));
                }
            }
        }
        ordered.extend(part3);
        let mut names: Vec<&str> = ordered.iter().map(|(p, _)| p.name()).collect();
        names.sort_unstable();
        if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
            errs.push(format!(
                "{path}.plugins.{point}: Duplicate value: {:?}",
                dup[0]
            ));
        }
        let plain = || ordered.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        match point {
            "preEnqueue" => profile.pre_enqueue = plain(),
            "queueSort" => {
                if ordered.len() > 1 {
                    errs.push(format!("{path}.plugins.queueSort: Invalid value: only one queue sort plugin can be enabled"));
                }
                profile.queue_sort = ordered.first().map(|(p, _)| p.clone());
            }
            "preFilter" => profile.pre_filter = plain(),
            "filter" => profile.filter = plain(),
            "postFilter" => profile.post_filter = plain(),
            "preScore" => profile.pre_score = plain(),
            "score" => {
                profile.score = ordered
                    .iter()
                    .map(|(p, w)| WeightedPlugin {
                        plugin: p.clone(),
                        weight: *w,
                    })
                    .collect()
            }
            "bind" => profile.bind = plain(),
            _ => {}
        }
    }
    // validation.go validates every pluginConfig entry's args, used or not.
    for (i, c) in pc.plugin_config.iter().enumerate() {
        if registry.contains(&c.name) && !instances.map.contains_key(&c.name) {
            let at = format!("{path}.pluginConfig[{i}]");
            instances.get_or_create(&c.name, &at, &mut errs);
        }
    }
    if errs.is_empty() {
        Ok(profile)
    } else {
        Err(errs)
    }
}

/// Whether `message` is a field error (`path: Invalid value: …`), as opposed to a decoding
/// message (`unknown field \`foo\`…`).
fn is_field_error(message: &str) -> bool {
    const KINDS: [&str; 8] = [
        "Invalid value",
        "Required value",
        "Unsupported value",
        "Duplicate value",
        "Forbidden",
        "Too long",
        "Too many",
        "Not found",
    ];
    KINDS.iter().any(|k| {
        message.starts_with(&format!("{k}:"))
            || message == *k
            || message.contains(&format!(": {k}"))
    })
}

/// A plugin's complaint about its args placed under the args' path: field errors relative to
/// the args (`hardPodAffinityWeight: Invalid value: …`) get the path prepended, other messages
/// (decoding errors) follow it.
fn under_args(args_path: &str, message: &str) -> String {
    if !is_field_error(message) {
        return format!("{args_path}: {message}");
    }
    match message.chars().next() {
        Some('[') => format!("{args_path}{message}"),
        Some(':') => format!("{args_path}{message}"),
        _ if message.split(':').next().is_some_and(|p| p.contains(' ')) => {
            // A field error about the args as a whole (`Invalid value: …`).
            format!("{args_path}: {message}")
        }
        _ => format!("{args_path}.{message}"),
    }
}

/// The plugin instances of one profile being built.
struct Instances<'a> {
    map: BTreeMap<String, Arc<dyn Plugin>>,
    /// Plugins whose creation failed (reported once).
    failed: std::collections::BTreeSet<String>,
    registry: &'a Registry,
    args: BTreeMap<&'a str, &'a serde_json::Value>,
    config: &'a ProfileConfig,
    path: &'a str,
}

impl Instances<'_> {
    /// The profile's instance of `name`, created with its pluginConfig args on first use; errors
    /// are reported at `at` (unknown plugin) or at the plugin's args (invalid args).
    fn get_or_create(
        &mut self,
        name: &str,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<Arc<dyn Plugin>> {
        if let Some(p) = self.map.get(name) {
            return Some(p.clone());
        }
        if self.failed.contains(name) {
            // Already reported where it was first met.
            return None;
        }
        let mut args = self
            .args
            .get(name)
            .map_or(serde_json::Value::Null, |v| (*v).clone());
        if let serde_json::Value::Object(m) = &mut args {
            m.remove("apiVersion");
            m.remove("kind");
        }
        let created = self.registry.create(name, &args);
        if !matches!(created, Some(Ok(_))) {
            self.failed.insert(name.to_string());
        }
        match created {
            None => {
                errs.push(format!(
                    "{at}: Invalid value: {name:?}: plugin {name:?} does not exist"
                ));
                None
            }
            Some(Err(problems)) => {
                let path = self.path;
                let arg_path = self
                    .config
                    .plugin_config
                    .iter()
                    .position(|c| c.name == name)
                    .map_or_else(
                        || format!("{path}.pluginConfig[{name}]"),
                        |i| format!("{path}.pluginConfig[{i}].args"),
                    );
                for p in problems {
                    errs.push(under_args(&arg_path, &p));
                }
                None
            }
            Some(Ok(p)) => {
                self.map.insert(name.to_string(), p.clone());
                Some(p)
            }
        }
    }
}
