//! Service discovery as a container sees it: the environment variables the kubelet injects for
//! Services (pkg/kubelet/envvars), each container's full environment as the kubelet resolves it
//! when it starts the container (kubelet_pods.go `makeEnvironmentVariables`), and the DNS names
//! of Services and pods (the Kubernetes DNS-based service discovery specification).
//!
//! Everything here is a pure function of the store's contents.
//!
//! ```
//! use flotilla_controllers::service_env::{expand, pod_a_record, service_fqdn};
//!
//! assert_eq!(service_fqdn("web", "default"), "web.default.svc.cluster.local");
//! assert_eq!(pod_a_record("10.0.0.5", "default"), "10-0-0-5.default.pod.cluster.local");
//! let lookup = |name: &str| (name == "HOST").then(|| "10.96.0.12".to_string());
//! assert_eq!(expand("http://$(HOST):80/$(NOPE)$$", lookup), "http://10.96.0.12:80/$(NOPE)$");
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_model::api::{Container, NodeAddressType, Pod, Protocol, Service};
use flotilla_model::quantity::Quantity;
use flotilla_model::store::Store;
use flotilla_model::{Kind, Object};

use crate::controller::get_typed;

/// The cluster's DNS domain (kubelet `--cluster-domain`).
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The namespace of the "master services" whose variables every pod gets.
const MASTER_SERVICE_NAMESPACE: &str = "default";
/// The master services (kubelet_pods.go `masterServices`).
const MASTER_SERVICES: [&str; 1] = ["kubernetes"];

/// The waiting reason of a container whose environment cannot be resolved.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// envvars.go `makeEnvVariableName`: upper case, `-` → `_`.
pub fn env_var_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

fn protocol_lower(p: Protocol) -> String {
    p.as_str().to_lowercase()
}

/// Whether a Service has a cluster IP to advertise (v1helper `IsServiceIPSet`).
fn has_cluster_ip(svc: &Service) -> bool {
    svc.spec
        .cluster_ip
        .as_deref()
        .is_some_and(|ip| !ip.is_empty() && ip != flotilla_model::api::CLUSTER_IP_NONE)
}

/// envvars.go `FromServices`: for each Service with a cluster IP, `<NAME>_SERVICE_HOST`,
/// `<NAME>_SERVICE_PORT` (the first port), `<NAME>_SERVICE_PORT_<PORTNAME>` for named ports,
/// and the Docker link variables `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>` with `_PROTO`,
/// `_PORT` and `_ADDR`, in that order.
pub fn service_env_vars<'a>(
    services: impl IntoIterator<Item = &'a Service>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for svc in services {
        if !has_cluster_ip(svc) || svc.spec.ports.is_empty() {
            continue;
        }
        let ip = svc.spec.cluster_ip.clone().unwrap_or_default();
        let prefix = env_var_name(&svc.metadata.name);
        out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
        let port_var = format!("{prefix}_SERVICE_PORT");
        out.push((port_var.clone(), svc.spec.ports[0].port.to_string()));
        for sp in &svc.spec.ports {
            if let Some(name) = sp.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{port_var}_{}", env_var_name(name)),
                    sp.port.to_string(),
                ));
            }
        }
        // makeLinkVariables.
        for (i, sp) in svc.spec.ports.iter().enumerate() {
            let proto = protocol_lower(sp.protocol);
            let url = format!("{proto}://{ip}:{}", sp.port);
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let pp = format!("{prefix}_PORT_{}_{}", sp.port, sp.protocol.as_str());
            out.push((pp.clone(), url));
            out.push((format!("{pp}_PROTO"), proto));
            out.push((format!("{pp}_PORT"), sp.port.to_string()));
            out.push((format!("{pp}_ADDR"), ip.clone()));
        }
    }
    out
}

/// kubelet_pods.go `getServiceEnvVarMap`: the variables of the Services of `namespace` (when
/// `enable_service_links`), plus those of the `kubernetes` Service of `default` always; a
/// Service of the pod's own namespace wins over a master service of the same name.
pub fn service_env_map(
    store: &Store,
    namespace: &str,
    enable_service_links: bool,
) -> BTreeMap<String, String> {
    // The stored objects, shared, not copied.
    let service = |o: &Object| matches!(o, Object::Service(s) if has_cluster_ip(s));
    let mut chosen: BTreeMap<String, Arc<Object>> = BTreeMap::new();
    for name in MASTER_SERVICES {
        if let Some(o) = store.get(Kind::Service, MASTER_SERVICE_NAMESPACE, name) {
            if service(&o) {
                chosen.insert(name.to_string(), o);
            }
        }
    }
    if enable_service_links {
        for o in store.iter_namespace(Kind::Service, namespace) {
            if service(o) {
                chosen.insert(o.metadata().name.clone(), o.clone());
            }
        }
    }
    let services = chosen.values().filter_map(|o| match &**o {
        Object::Service(s) => Some(&**s),
        _ => None,
    });
    service_env_vars(services).into_iter().collect()
}

/// Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion `Expand`): `$(NAME)`
/// becomes `lookup(NAME)`, or stays as written when there is no such variable; `$$` is a
/// literal `$`; any other `$` is kept.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match bytes[cursor + 1] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // The operator and the next character are copied (`$x`).
                    let ch = rest.chars().next().map_or(0, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance + 1;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint.min(input.len())..]);
    out
}

/// Why a container's environment cannot be made: the message of a
/// [`CREATE_CONTAINER_CONFIG_ERROR`] (`configmap "app" not found`,
/// `couldn't find key mode in ConfigMap default/app`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

fn config_map_data(store: &Store, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
    match store.get(Kind::ConfigMap, ns, name).as_deref() {
        Some(Object::ConfigMap(cm)) => {
            let mut data = cm.data.clone();
            for (k, v) in &cm.binary_data {
                data.insert(
                    k.clone(),
                    String::from_utf8_lossy(v.as_slice()).into_owned(),
                );
            }
            Some(data)
        }
        _ => None,
    }
}

fn secret_data(store: &Store, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
    match store.get(Kind::Secret, ns, name).as_deref() {
        Some(Object::Secret(s)) => {
            let mut data: BTreeMap<String, String> = s
                .data
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        String::from_utf8_lossy(v.as_slice()).into_owned(),
                    )
                })
                .collect();
            for (k, v) in &s.string_data {
                data.insert(k.clone(), v.clone());
            }
            Some(data)
        }
        _ => None,
    }
}

/// validation `IsEnvVarName`: letters, digits, `_`, `-` and `.`, not starting with a digit.
fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// fieldpath `ExtractFieldPathAsString` and kubelet `podFieldSelectorRuntimeValue`.
fn field_value(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    let join = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "metadata.labels" => join(&meta.labels),
        "metadata.annotations" => join(&meta.annotations),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        _ => {
            if let Some(k) = subscript("metadata.labels") {
                meta.labels.get(&k).cloned().unwrap_or_default()
            } else if let Some(k) = subscript("metadata.annotations") {
                meta.annotations.get(&k).cloned().unwrap_or_default()
            } else {
                return Err(EnvError(format!("unsupported fieldPath: {path}")));
            }
        }
    })
}

/// resource.go `ExtractContainerResourceValue`, with limits defaulted to the node's
/// allocatable (`defaultPodLimitsForDownwardAPI`): CPU rounded up to whole divisors of
/// millicores, memory and ephemeral storage of bytes.
fn resource_value(
    container: &Container,
    resource: &str,
    divisor: Option<&Quantity>,
    allocatable: &flotilla_model::quantity::ResourceList,
) -> Result<String, EnvError> {
    let (list, name) = resource
        .split_once('.')
        .ok_or_else(|| EnvError(format!("unsupported container resource : {resource}")))?;
    let value = match list {
        "limits" => container
            .resources
            .limits
            .get(name)
            .or_else(|| allocatable.get(name))
            .cloned(),
        "requests" => container.resources.requests.get(name).cloned(),
        _ => {
            return Err(EnvError(format!(
                "unsupported container resource : {resource}"
            )))
        }
    }
    .unwrap_or_default();
    let divisor = divisor.filter(|d| !d.is_zero()).cloned();
    let ceil_div = |a: i64, b: i64| if b == 0 { 0 } else { (a + b - 1).div_euclid(b) };
    Ok(match name {
        "cpu" => {
            let d = divisor.map_or(1000, |d| d.milli_value());
            ceil_div(value.milli_value(), d).to_string()
        }
        "memory" | "ephemeral-storage" => {
            let d = divisor.map_or(1, |d| d.value());
            ceil_div(value.value(), d).to_string()
        }
        _ => {
            return Err(EnvError(format!(
                "unsupported container resource : {resource}"
            )))
        }
    })
}

/// The environment of container `container` of `pod`, as the kubelet hands it to the runtime
/// (kubelet_pods.go `makeEnvironmentVariables`): the `envFrom` sources in order (later keys
/// win; invalid names skipped), then `env` in order — values with `$(VAR)` expanded against
/// the variables so far and the Service variables, `valueFrom` resolved from the pod's fields,
/// resources, ConfigMaps and Secrets — then the Service variables not already set. A missing
/// ConfigMap, Secret or key that is not `optional` is an [`EnvError`] with the kubelet's
/// message. `pod_ip` is the sandbox's IP.
pub fn container_env(
    store: &Store,
    pod: &Pod,
    container: &str,
    pod_ip: &str,
) -> Result<Vec<(String, String)>, EnvError> {
    let Some(c) = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .find(|c| c.name == container)
    else {
        return Ok(Vec::new());
    };
    let ns = &pod.metadata.namespace;
    let links = pod.spec.enable_service_links != Some(false);
    let service_env = service_env_map(store, ns, links);
    // Read through the shared object: the node is not copied.
    let node_object = store.get(Kind::Node, "", &pod.spec.node_name);
    let node = match node_object.as_deref() {
        Some(Object::Node(n)) => Some(n),
        _ => None,
    };
    let host_ip = node
        .and_then(|n| {
            let a = &n.status.addresses;
            a.iter()
                .find(|a| a.r#type == NodeAddressType::InternalIp)
                .or_else(|| a.iter().find(|a| a.r#type == NodeAddressType::ExternalIp))
                .map(|a| a.address.clone())
        })
        .unwrap_or_default();
    let empty = flotilla_model::quantity::ResourceList::new();
    let allocatable = node.map_or(&empty, |n| &n.status.allocatable);

    // Insertion-ordered: the order in which names were first set.
    let mut order: Vec<String> = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let set = |order: &mut Vec<String>, values: &mut BTreeMap<String, String>, k: String, v| {
        if values.insert(k.clone(), v).is_none() {
            order.push(k);
        }
    };
    // The device plugins' variables come first (kubelet_pods.go `GenerateRunContainerOptions`:
    // the container manager's `Envs`, then `makeEnvironmentVariables`): the GPUs the pod was
    // bound with (flotilla_scheduler::gpu::device_env).
    if let Some((k, v)) = flotilla_scheduler::gpu::device_env(pod, container) {
        set(&mut order, &mut values, k, v);
    }
    for from in &c.env_from {
        let (data, optional) = if let Some(r) = &from.config_map_ref {
            let optional = r.optional == Some(true);
            match config_map_data(store, ns, &r.name) {
                Some(d) => (d, optional),
                None if optional => continue,
                None => return Err(EnvError(format!("configmap {:?} not found", r.name))),
            }
        } else if let Some(r) = &from.secret_ref {
            let optional = r.optional == Some(true);
            match secret_data(store, ns, &r.name) {
                Some(d) => (d, optional),
                None if optional => continue,
                None => return Err(EnvError(format!("secret {:?} not found", r.name))),
            }
        } else {
            continue;
        };
        let _ = optional;
        for (k, v) in data {
            let name = format!("{}{k}", from.prefix);
            if is_env_var_name(&name) {
                set(&mut order, &mut values, name, v);
            }
        }
    }
    for var in &c.env {
        let value = if !var.value.is_empty() {
            let lookup = |name: &str| values.get(name).or_else(|| service_env.get(name)).cloned();
            expand(&var.value, lookup)
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                field_value(pod, &f.field_path, pod_ip, &host_ip)?
            } else if let Some(r) = &from.resource_field_ref {
                let target = if r.container_name.is_empty() {
                    Some(c)
                } else {
                    pod.spec
                        .containers
                        .iter()
                        .chain(&pod.spec.init_containers)
                        .find(|x| x.name == r.container_name)
                };
                let Some(target) = target else {
                    return Err(EnvError(format!(
                        "container {} not found",
                        r.container_name
                    )));
                };
                resource_value(target, &r.resource, r.divisor.as_ref(), allocatable)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match config_map_data(store, ns, &r.name) {
                    None if optional => continue,
                    None => return Err(EnvError(format!("configmap {:?} not found", r.name))),
                    Some(d) => match d.get(&r.key) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in ConfigMap {ns}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match secret_data(store, ns, &r.name) {
                    None if optional => continue,
                    None => return Err(EnvError(format!("secret {:?} not found", r.name))),
                    Some(d) => match d.get(&r.key) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in Secret {ns}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut order, &mut values, var.name.clone(), value);
    }
    let mut out: Vec<(String, String)> = order
        .into_iter()
        .map(|k| {
            let v = values.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect();
    for (k, v) in service_env {
        if !values.contains_key(&k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// A Service's DNS name: `<service>.<namespace>.svc.cluster.local` (an A record of the cluster
/// IP, or of each ready endpoint for a headless Service).
pub fn service_fqdn(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc.{CLUSTER_DOMAIN}")
}

/// A named port's SRV name: `_<port>._<proto>.<service>.<namespace>.svc.cluster.local`.
pub fn service_srv_name(port: &str, protocol: Protocol, service: &str, namespace: &str) -> String {
    format!(
        "_{port}._{}.{}",
        protocol_lower(protocol),
        service_fqdn(service, namespace)
    )
}

/// A pod's A record: the IP with dashes, `10-0-0-5.<namespace>.pod.cluster.local`.
pub fn pod_a_record(ip: &str, namespace: &str) -> String {
    format!(
        "{}.{namespace}.pod.{CLUSTER_DOMAIN}",
        ip.replace(['.', ':'], "-")
    )
}

/// The name of a pod with `hostname` and `subdomain` behind the headless Service of that
/// subdomain: `<hostname>.<subdomain>.<namespace>.svc.cluster.local` (`web-0.web.default.svc…`
/// for a StatefulSet's pod).
pub fn headless_pod_fqdn(hostname: &str, subdomain: &str, namespace: &str) -> String {
    format!("{hostname}.{}", service_fqdn(subdomain, namespace))
}

/// What a cluster DNS server answers for an A query of `name` (a fully qualified name in the
/// cluster domain, with or without the trailing dot): a Service's cluster IP; a headless
/// Service's ready endpoint addresses (all of them with `publishNotReadyAddresses`); a
/// headless pod name's address; a pod A record's IP when such a pod exists. Empty for anything
/// else (NXDOMAIN).
pub fn resolve(store: &Store, name: &str) -> Vec<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let Some(rest) = name.strip_suffix(&format!(".{CLUSTER_DOMAIN}")) else {
        return Vec::new();
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let endpoints = |ns: &str, svc: &Service| -> Vec<(Option<String>, String)> {
        let publish = svc.spec.publish_not_ready_addresses == Some(true);
        let mut out: Vec<(Option<String>, String)> = store
            .iter_namespace(Kind::EndpointSlice, ns)
            .filter_map(|o| match &**o {
                Object::EndpointSlice(s) if s.service_name() == Some(&svc.metadata.name) => {
                    Some(s.endpoints.clone())
                }
                _ => None,
            })
            .flatten()
            .filter(|e| publish || e.is_ready())
            .filter_map(|e| Some((e.hostname.clone(), e.addresses.first()?.clone())))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    let service = |ns: &str, name: &str| get_typed::<Service>(store, ns, name);
    match labels.as_slice() {
        [svc, ns, "svc"] => match service(ns, svc) {
            Some(s) if s.is_headless() => endpoints(ns, &s).into_iter().map(|(_, ip)| ip).collect(),
            Some(s) => s
                .spec
                .cluster_ip
                .into_iter()
                .filter(|ip| !ip.is_empty())
                .collect(),
            None => Vec::new(),
        },
        [host, svc, ns, "svc"] => match service(ns, svc) {
            Some(s) if s.is_headless() => endpoints(ns, &s)
                .into_iter()
                .filter(|(h, _)| h.as_deref() == Some(*host))
                .map(|(_, ip)| ip)
                .collect(),
            _ => Vec::new(),
        },
        [dashed, ns, "pod"] => {
            let ip = dashed.replace('-', ".");
            let exists = store
                .iter_namespace(Kind::Pod, ns)
                .any(|o| matches!(&**o, Object::Pod(p) if p.status.pod_ip == ip));
            if exists {
                vec![ip]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse_object;
    use flotilla_model::store::StoreConfig;
    use flotilla_model::Time;

    fn store() -> Store {
        let mut s = Store::new(StoreConfig {
            kubernetes_service: true,
            ..StoreConfig::default()
        });
        s.create(
            parse_object("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: 10.96.0.12\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80}\n  - {name: dns-udp, port: 53, protocol: UDP}\n"),
            Time::ZERO,
        )
        .unwrap();
        s
    }

    fn pod(yaml_containers: &str) -> Pod {
        match parse_object(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: default, uid: u-1, labels: {{app: web}}}}\nspec:\n  nodeName: n1\n  serviceAccountName: sa\n  containers:\n{yaml_containers}"
        )) {
            Object::Pod(mut p) => {
                p.metadata.uid = "u-1".into();
                p
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn service_variables_follow_envvars_go() {
        let s = store();
        let env = service_env_map(&s, "default", true);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("WEB_SERVICE_HOST"), Some("10.96.0.12"));
        assert_eq!(get("WEB_SERVICE_PORT"), Some("80"));
        assert_eq!(get("WEB_SERVICE_PORT_HTTP"), Some("80"));
        assert_eq!(get("WEB_SERVICE_PORT_DNS_UDP"), Some("53"));
        assert_eq!(get("WEB_PORT"), Some("tcp://10.96.0.12:80"));
        assert_eq!(get("WEB_PORT_80_TCP"), Some("tcp://10.96.0.12:80"));
        assert_eq!(get("WEB_PORT_80_TCP_PROTO"), Some("tcp"));
        assert_eq!(get("WEB_PORT_80_TCP_PORT"), Some("80"));
        assert_eq!(get("WEB_PORT_80_TCP_ADDR"), Some("10.96.0.12"));
        assert_eq!(get("WEB_PORT_53_UDP"), Some("udp://10.96.0.12:53"));
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.96.0.1:443"));
        // enableServiceLinks: false keeps only the master service; other namespaces see only it.
        let off = service_env_map(&s, "default", false);
        assert!(off.contains_key("KUBERNETES_SERVICE_HOST"));
        assert!(!off.contains_key("WEB_SERVICE_HOST"));
        let other = service_env_map(&s, "kube-system", true);
        assert!(!other.contains_key("WEB_SERVICE_HOST"));
        assert!(other.contains_key("KUBERNETES_PORT"));
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let lookup = |n: &str| match n {
            "A" => Some("x".to_string()),
            _ => None,
        };
        assert_eq!(expand("$(A)-$(B)", lookup), "x-$(B)");
        assert_eq!(expand("$$(A)", lookup), "$(A)");
        assert_eq!(expand("$(A", lookup), "$(A");
        assert_eq!(expand("cost $5 $", lookup), "cost $5 $");
        assert_eq!(expand("", lookup), "");
    }

    #[test]
    fn the_container_environment_resolves_every_source() {
        let mut s = store();
        s.create(
            parse_object("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {MODE: fast, level: '3'}\n"),
            Time::ZERO,
        )
        .unwrap();
        s.create(
            parse_object(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: raw}\ndata: {1st: x, ok: 'v'}\n",
            ),
            Time::ZERO,
        )
        .unwrap();
        s.create(
            parse_object("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n"),
            Time::ZERO,
        )
        .unwrap();
        let p = pod("  - name: app\n    image: app\n    resources: {limits: {memory: 256Mi}, requests: {cpu: 250m}}\n    envFrom:\n    - configMapRef: {name: cfg}\n      prefix: CFG_\n    - configMapRef: {name: raw}\n    env:\n    - {name: URL, value: 'http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/$(CFG_MODE)'}\n    - name: POD\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n    - name: NS\n      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}\n    - name: APP\n      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}\n    - name: IP\n      valueFrom: {fieldRef: {fieldPath: status.podIP}}\n    - name: NODE\n      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}\n    - name: SA\n      valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}\n    - name: MEM\n      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}\n    - name: CPU\n      valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}\n    - name: LEVEL\n      valueFrom: {configMapKeyRef: {name: cfg, key: level}}\n    - name: PASS\n      valueFrom: {secretKeyRef: {name: creds, key: password}}\n    - name: MAYBE\n      valueFrom: {configMapKeyRef: {name: nope, key: x, optional: true}}\n");
        let env = container_env(&s, &p, "app", "10.0.0.5").unwrap();
        let map: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(map["URL"], "http://10.96.0.12:80/fast");
        assert_eq!(map["CFG_MODE"], "fast");
        assert!(!map.contains_key("1st"), "not a valid variable name");
        assert_eq!(map["ok"], "v");
        assert_eq!(map["POD"], "p");
        assert_eq!(map["NS"], "default");
        assert_eq!(map["APP"], "web");
        assert_eq!(map["IP"], "10.0.0.5");
        assert_eq!(map["NODE"], "n1");
        assert_eq!(map["SA"], "sa");
        assert_eq!(map["MEM"], "256");
        assert_eq!(map["CPU"], "250");
        assert_eq!(map["LEVEL"], "3");
        assert_eq!(map["PASS"], "hunter2");
        assert!(!map.contains_key("MAYBE"));
        assert_eq!(map["WEB_PORT"], "tcp://10.96.0.12:80");
        // Declared variables come first, in order; the service variables after them.
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(&names[..4], ["CFG_MODE", "CFG_level", "ok", "URL"]);
    }

    #[test]
    fn missing_required_sources_are_errors_with_the_kubelets_message() {
        let s = store();
        let p = pod("  - name: app\n    image: app\n    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: cfg, key: mode}}\n");
        assert_eq!(
            container_env(&s, &p, "app", "").unwrap_err().to_string(),
            "configmap \"cfg\" not found"
        );
        let mut s = s;
        s.create(
            parse_object(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {other: x}\n",
            ),
            Time::ZERO,
        )
        .unwrap();
        assert_eq!(
            container_env(&s, &p, "app", "").unwrap_err().to_string(),
            "couldn't find key mode in ConfigMap default/cfg"
        );
        let p = pod("  - name: app\n    image: app\n    envFrom: [{secretRef: {name: gone}}]\n");
        assert_eq!(
            container_env(&s, &p, "app", "").unwrap_err().to_string(),
            "secret \"gone\" not found"
        );
    }

    #[test]
    fn dns_names_and_answers() {
        let mut s = store();
        assert_eq!(
            service_fqdn("web", "default"),
            "web.default.svc.cluster.local"
        );
        assert_eq!(
            service_srv_name("http", Protocol::Tcp, "web", "default"),
            "_http._tcp.web.default.svc.cluster.local"
        );
        assert_eq!(
            headless_pod_fqdn("web-0", "web", "shop"),
            "web-0.web.shop.svc.cluster.local"
        );
        assert_eq!(
            resolve(&s, "web.default.svc.cluster.local."),
            ["10.96.0.12"]
        );
        assert!(resolve(&s, "nope.default.svc.cluster.local").is_empty());
        s.create(
            parse_object("apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n"),
            Time::ZERO,
        )
        .unwrap();
        s.create(
            parse_object("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: db-1, labels: {kubernetes.io/service-name: db}}\naddressType: IPv4\nendpoints:\n- {addresses: [10.0.0.7], hostname: db-0, conditions: {ready: true}}\n- {addresses: [10.0.0.8], hostname: db-1, conditions: {ready: false}}\n"),
            Time::ZERO,
        )
        .unwrap();
        assert_eq!(resolve(&s, "db.default.svc.cluster.local"), ["10.0.0.7"]);
        assert_eq!(
            resolve(&s, "db-0.db.default.svc.cluster.local"),
            ["10.0.0.7"]
        );
        assert!(resolve(&s, "db-1.db.default.svc.cluster.local").is_empty());
    }
}
