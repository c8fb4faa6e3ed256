//! The EndpointSlice controller (pkg/controller/endpointslice, v1.34): for every Service with a
//! selector, EndpointSlices listing the pods it selects — their IP, readiness, node, zone and
//! the port numbers the Service's ports resolve to on each pod.
//!
//! What it writes, as Kubernetes does:
//! - a pod is an endpoint when it has an IP and is not terminal (`Succeeded`/`Failed`);
//!   terminating pods stay, with `terminating: true` (endpointslice util
//!   `ShouldPodBeInEndpoints(pod, includeTerminating=true)`);
//! - conditions (utils.go `podToEndpoint`): `serving` is the pod's `Ready` condition,
//!   `terminating` is "has a deletionTimestamp", `ready` is `serving && !terminating` (or
//!   always true with `publishNotReadyAddresses`);
//! - `nodeName`, `zone` (the node's `topology.kubernetes.io/zone` label), `targetRef` to the
//!   pod, and `hostname` when the pod's `subdomain` names the Service;
//! - ports per pod (utils.go `getEndpointPorts`): a numeric `targetPort` as is, a named one
//!   looked up among the pod's container ports by name and protocol; a pod without that port
//!   is left out of that port — pods with different resolved port sets go to different slices;
//! - at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints per slice (`--max-endpoints-per-slice`),
//!   named `<service>-<random>`, labelled `kubernetes.io/service-name` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io` (plus the
//!   Service's own labels and `service.kubernetes.io/headless` for a headless Service),
//!   controlled by the Service, so the garbage collector deletes them with it;
//! - a Service that selects no endpoint keeps one empty "placeholder" slice (reconciler.go).
//!
//! Like reconciler.go, it keeps endpoints in the slice they are in, fills slices that have
//! room before creating new ones, and writes only slices that changed.

use std::collections::{BTreeMap, BTreeSet};

use flotilla_model::api::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, ObjectReference, Pod,
    Protocol, Service, ServiceType, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
};
use flotilla_model::store::{DeleteOptions, ObjectKey, Store, WatchEvent};
use flotilla_model::{Kind, Object, ObjectMeta};

use crate::controller::{Action, Context, Controller, Lookup, ReconcileError};
use crate::pods;

/// The value of [`LABEL_MANAGED_BY`] on the slices this controller manages.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label a headless Service's slices carry (`v1.IsHeadlessService`).
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// The node label an endpoint's zone comes from.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// kube-controller-manager's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The resolved ports of an endpoint: (name, protocol, port, appProtocol).
type PortKey = Vec<(String, Protocol, i32, Option<String>)>;

/// The EndpointSlice controller. See the [module docs](self).
#[derive(Debug, Default)]
pub struct EndpointSliceController;

impl EndpointSliceController {
    /// A new controller.
    pub fn new() -> EndpointSliceController {
        EndpointSliceController
    }
}

/// Whether `selector` (a Service's, a plain label map) selects `labels`; an empty selector
/// selects nothing here (such a Service's endpoints are managed by hand).
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn is_managed_by_us(slice: &EndpointSlice) -> bool {
    slice
        .metadata
        .labels
        .get(LABEL_MANAGED_BY)
        .map(String::as_str)
        == Some(MANAGED_BY)
}

/// The Services to sync for a pod event (endpointslice_controller.go `onPodUpdate` →
/// `GetPodServiceMemberships` of the old and new pod): those selecting the pod now, and those
/// whose slices list it (which covers a pod whose labels no longer match).
fn services_for_pod(store: &Store, pod: &Pod) -> Vec<ObjectKey> {
    let ns = &pod.metadata.namespace;
    let mut keys = BTreeSet::new();
    for o in store.iter_namespace(Kind::Service, ns) {
        if let Object::Service(s) = &**o {
            if selects(&s.spec.selector, &pod.metadata.labels) {
                keys.insert(ObjectKey::of(o));
            }
        }
    }
    for o in store.iter_namespace(Kind::EndpointSlice, ns) {
        let Object::EndpointSlice(s) = &**o else {
            continue;
        };
        if !is_managed_by_us(s) {
            continue;
        }
        let lists = s.endpoints.iter().any(|e| {
            e.target_ref
                .as_ref()
                .is_some_and(|r| r.name == pod.metadata.name)
        });
        if let (true, Some(service)) = (lists, s.service_name()) {
            keys.insert(ObjectKey {
                kind: Kind::Service,
                namespace: ns.clone(),
                name: service.to_string(),
            });
        }
    }
    keys.into_iter().collect()
}

/// utils.go `getEndpointPorts`: the Service's ports as they resolve on `pod` (`FindPort`).
fn endpoint_ports(svc: &Service, pod: &Pod) -> PortKey {
    let container_ports: Vec<(&str, Protocol, i32)> = pod
        .spec
        .containers
        .iter()
        .chain(pod.spec.init_containers.iter().filter(|c| {
            c.restart_policy == Some(flotilla_model::api::ContainerRestartPolicy::Always)
        }))
        .flat_map(|c| &c.ports)
        .map(|p| {
            (
                p.name.as_str(),
                p.protocol.unwrap_or_default(),
                p.container_port,
            )
        })
        .collect();
    svc.spec
        .ports
        .iter()
        .filter_map(|sp| {
            let port = sp.resolve_target_port(container_ports.iter().copied())?;
            Some((
                sp.name.clone().unwrap_or_default(),
                sp.protocol,
                port,
                sp.app_protocol.clone(),
            ))
        })
        .collect()
}

/// utils.go `podToEndpoint`.
fn pod_to_endpoint(svc: &Service, pod: &Pod, store: &Store) -> Endpoint {
    let serving = pod.is_ready();
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = svc.spec.publish_not_ready_addresses == Some(true) || (serving && !terminating);
    let node_name = (!pod.spec.node_name.is_empty()).then(|| pod.spec.node_name.clone());
    let zone = node_name
        .as_deref()
        .and_then(|n| store.get(Kind::Node, "", n))
        .and_then(|n| n.metadata().labels.get(LABEL_TOPOLOGY_ZONE).cloned())
        .filter(|z| !z.is_empty());
    // endpoint util `ShouldSetHostname`.
    let hostname = (!pod.spec.hostname.is_empty()
        && pod.spec.subdomain == svc.metadata.name
        && pod.metadata.namespace == svc.metadata.namespace)
        .then(|| pod.spec.hostname.clone());
    Endpoint {
        addresses: vec![pod.status.pod_ip.clone()],
        conditions: EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        },
        hostname,
        target_ref: Some(ObjectReference {
            kind: "Pod".into(),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        node_name,
        zone,
        ..Default::default()
    }
}

fn port_key(slice: &EndpointSlice) -> PortKey {
    slice
        .ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.protocol.unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.app_protocol.clone(),
            )
        })
        .collect()
}

fn slice_ports(key: &PortKey) -> Vec<EndpointPort> {
    key.iter()
        .map(|(name, protocol, port, app)| EndpointPort {
            name: Some(name.clone()),
            protocol: Some(*protocol),
            port: Some(*port),
            app_protocol: app.clone(),
        })
        .collect()
}

fn pod_name(e: &Endpoint) -> &str {
    e.target_ref.as_ref().map_or("", |r| r.name.as_str())
}

/// reconciler.go `setEndpointSliceLabels`: the Service's labels, then the controller's.
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .filter(|(k, _)| *k != LABEL_SERVICE_NAME && *k != LABEL_MANAGED_BY && *k != LABEL_HEADLESS)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if svc.is_headless() {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.into(), svc.metadata.name.clone());
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    labels
}

impl Controller for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice-controller"
    }

    fn watched_kinds(&self) -> &'static [Kind] {
        &[Kind::Service, Kind::Pod, Kind::EndpointSlice]
    }

    fn keys_for_event(&self, event: &WatchEvent, lookup: Lookup<'_>) -> Vec<ObjectKey> {
        match &*event.object {
            Object::Service(_) => vec![ObjectKey::of(&event.object)],
            Object::Pod(pod) => services_for_pod(lookup.store, pod),
            // endpointslice_controller.go `onEndpointSliceUpdate`: a managed slice changed by
            // someone else brings its Service back to the desired state.
            Object::EndpointSlice(slice) if is_managed_by_us(slice) => slice
                .service_name()
                .map(|name| ObjectKey {
                    kind: Kind::Service,
                    namespace: slice.metadata.namespace.clone(),
                    name: name.to_string(),
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    fn reconcile(
        &mut self,
        key: &ObjectKey,
        ctx: &mut Context<'_>,
    ) -> Result<Action, ReconcileError> {
        // endpointslice_controller.go `syncService`: a deleted Service's slices go with it
        // (garbage collector); a Service without a selector is not ours to manage.
        let Some(object) = ctx.store.get(Kind::Service, &key.namespace, &key.name) else {
            return Ok(Action::await_change());
        };
        let Object::Service(svc) = &*object else {
            return Ok(Action::await_change());
        };
        if svc.spec.selector.is_empty() || svc.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let existing: Vec<EndpointSlice> = ctx
            .dependents(&svc.metadata.uid, Kind::EndpointSlice)
            .into_iter()
            .filter_map(|o| match &*o {
                Object::EndpointSlice(s) if is_managed_by_us(s) => Some(s.clone()),
                _ => None,
            })
            .collect();

        // The desired endpoints, grouped by their resolved ports.
        let mut desired: BTreeMap<PortKey, BTreeMap<String, Endpoint>> = BTreeMap::new();
        if svc.spec.r#type != ServiceType::ExternalName {
            for o in ctx.store.iter_namespace(Kind::Pod, &key.namespace) {
                let Object::Pod(pod) = &**o else {
                    continue;
                };
                if !selects(&svc.spec.selector, &pod.metadata.labels)
                    || pod.status.pod_ip.is_empty()
                    || pod.phase().is_terminal()
                    || pod.status.pod_ip.contains(':')
                {
                    continue;
                }
                let ports = endpoint_ports(svc, pod);
                // A pod that resolves none of a ported Service's ports serves none of them.
                if ports.is_empty() && !svc.spec.ports.is_empty() {
                    continue;
                }
                desired.entry(ports).or_default().insert(
                    pod.metadata.name.clone(),
                    pod_to_endpoint(svc, pod, ctx.store),
                );
            }
        }

        let labels = slice_labels(svc);
        let owner = pods::controller_ref(Kind::Service, &svc.metadata);
        let mut to_update: Vec<EndpointSlice> = Vec::new();
        let mut to_delete: Vec<EndpointSlice> = Vec::new();
        let mut to_create: Vec<EndpointSlice> = Vec::new();

        // reconciler.go `reconcileByPortMapping`: keep endpoints in their slices, fill slices
        // with room, then create new ones.
        let mut by_ports: BTreeMap<PortKey, Vec<EndpointSlice>> = BTreeMap::new();
        for s in existing {
            by_ports.entry(port_key(&s)).or_default().push(s);
        }
        for (ports, mut wanted) in desired.clone() {
            let mut slices = by_ports.remove(&ports).unwrap_or_default();
            let mut changed = vec![false; slices.len()];
            for (i, slice) in slices.iter_mut().enumerate() {
                let kept: Vec<Endpoint> = slice
                    .endpoints
                    .iter()
                    .filter_map(|e| wanted.remove(pod_name(e)))
                    .collect();
                if kept != slice.endpoints {
                    slice.endpoints = kept;
                    changed[i] = true;
                }
            }
            let mut rest = wanted.into_values();
            for (i, slice) in slices.iter_mut().enumerate() {
                while slice.endpoints.len() < MAX_ENDPOINTS_PER_SLICE {
                    match rest.next() {
                        Some(e) => {
                            slice.endpoints.push(e);
                            changed[i] = true;
                        }
                        None => break,
                    }
                }
            }
            let rest: Vec<Endpoint> = rest.collect();
            for chunk in rest.chunks(MAX_ENDPOINTS_PER_SLICE) {
                to_create.push(EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: format!("{}-", svc.metadata.name),
                        namespace: key.namespace.clone(),
                        labels: labels.clone().into(),
                        owner_references: vec![owner.clone()],
                        ..Default::default()
                    },
                    address_type: Some(AddressType::IPv4),
                    endpoints: chunk.to_vec(),
                    ports: slice_ports(&ports),
                });
            }
            for (slice, changed) in slices.into_iter().zip(changed) {
                if slice.endpoints.is_empty() {
                    to_delete.push(slice);
                } else if changed || slice.metadata.labels != labels {
                    to_update.push(slice);
                }
            }
        }
        // Slices of port sets nobody resolves to any more.
        to_delete.extend(by_ports.into_values().flatten());

        // reconciler.go: a Service with no endpoint keeps one empty placeholder slice.
        if desired.is_empty() && to_create.is_empty() {
            let placeholder = to_delete
                .iter()
                .position(|s| s.ports.is_empty() && s.endpoints.is_empty())
                .or(if to_delete.is_empty() { None } else { Some(0) });
            match placeholder {
                Some(i) => {
                    let mut s = to_delete.remove(i);
                    if !s.endpoints.is_empty() || !s.ports.is_empty() || s.metadata.labels != labels
                    {
                        s.endpoints.clear();
                        s.ports.clear();
                        to_update.push(s);
                    }
                }
                None if to_update.is_empty() => to_create.push(EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: format!("{}-", svc.metadata.name),
                        namespace: key.namespace.clone(),
                        labels: labels.clone().into(),
                        owner_references: vec![owner.clone()],
                        ..Default::default()
                    },
                    address_type: Some(AddressType::IPv4),
                    endpoints: Vec::new(),
                    ports: Vec::new(),
                }),
                None => {}
            }
        }

        for mut slice in to_update {
            slice.metadata.labels = labels.clone().into();
            slice.endpoints.sort_by(|a, b| pod_name(a).cmp(pod_name(b)));
            ctx.store.update(slice.into(), ctx.now)?;
        }
        for slice in to_create {
            ctx.store.create(slice.into(), ctx.now)?;
        }
        for slice in to_delete {
            let options = DeleteOptions {
                precondition_uid: Some(slice.metadata.uid.clone()),
                ..Default::default()
            };
            match ctx.store.delete(
                Kind::EndpointSlice,
                &slice.metadata.namespace,
                &slice.metadata.name,
                &options,
                ctx.now,
            ) {
                Ok(_) | Err(flotilla_model::store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::garbage_collector::GarbageCollectorController;
    use crate::testing::{parse_object, Harness};
    use flotilla_model::api::PodPhase;
    use flotilla_model::store::StoreError;

    fn harness() -> Harness {
        Harness::new(vec![
            Box::new(EndpointSliceController::new()),
            Box::new(GarbageCollectorController::new()),
        ])
    }

    fn pod(name: &str, labels: &str, ports: &str) -> Object {
        parse_object(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {labels}}}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports: {ports}\n"
        ))
    }

    fn service(yaml_spec: &str) -> Object {
        parse_object(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: web, labels: {{tier: front}}}}\nspec:\n{yaml_spec}"
        ))
    }

    /// Gives a pod an IP and a Running phase with the Ready condition `ready`.
    fn start(h: &mut Harness, name: &str, ip: &str, node: &str, ready: bool) {
        if h.pod("default", name).unwrap().spec.node_name.is_empty() {
            h.bind("default", name, node);
        }
        let mut p = h.pod("default", name).unwrap();
        p.status.pod_ip = ip.into();
        h.store.update_status(p.into(), h.now).unwrap();
        h.set_pod_status("default", name, PodPhase::Running, ready);
    }

    fn slices(h: &Harness) -> Vec<EndpointSlice> {
        h.store
            .iter_namespace(Kind::EndpointSlice, "default")
            .filter_map(|o| match &**o {
                Object::EndpointSlice(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn summary(h: &Harness) -> Vec<String> {
        let mut out: Vec<String> = slices(h)
            .iter()
            .map(|s| {
                let ports: Vec<String> = s
                    .ports
                    .iter()
                    .map(|p| {
                        format!(
                            "{}={}",
                            p.name.clone().unwrap_or_default(),
                            p.port.unwrap_or(0)
                        )
                    })
                    .collect();
                let eps: Vec<String> = s
                    .endpoints
                    .iter()
                    .map(|e| {
                        let c = &e.conditions;
                        format!(
                            "{}:{}{}{}",
                            e.addresses[0],
                            if c.ready == Some(true) { "R" } else { "-" },
                            if c.serving == Some(true) { "S" } else { "-" },
                            if c.terminating == Some(true) {
                                "T"
                            } else {
                                "-"
                            }
                        )
                    })
                    .collect();
                format!("[{}] {}", ports.join(","), eps.join(" "))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn ready_and_not_ready_pods_become_endpoints_with_their_conditions() {
        let mut h = harness();
        let mut node = flotilla_model::api::Node {
            metadata: ObjectMeta::named("", "node-a"),
            ..Default::default()
        };
        node.metadata
            .labels
            .insert(LABEL_TOPOLOGY_ZONE.into(), "zone-1".into());
        h.apply(node).unwrap();
        h.apply(service(
            "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n",
        ))
        .unwrap();
        // No endpoints yet: one placeholder slice.
        assert_eq!(summary(&h), ["[] "]);
        for (name, ip, ready) in [
            ("a", "10.0.0.1", true),
            ("b", "10.0.0.2", true),
            ("c", "10.0.0.3", false),
        ] {
            h.apply(pod(name, "{app: web}", "[]")).unwrap();
            start(&mut h, name, ip, "node-a", ready);
        }
        // A pod with no IP and a pod of another app are not endpoints.
        h.apply(pod("d", "{app: web}", "[]")).unwrap();
        h.apply(pod("x", "{app: other}", "[]")).unwrap();
        start(&mut h, "x", "10.0.0.9", "node-a", true);
        assert_eq!(
            summary(&h),
            ["[http=8080] 10.0.0.1:RS- 10.0.0.2:RS- 10.0.0.3:---"]
        );
        let s = &slices(&h)[0];
        assert_eq!(s.service_name(), Some("web"));
        assert_eq!(
            s.metadata.labels.get(LABEL_MANAGED_BY).map(String::as_str),
            Some(MANAGED_BY)
        );
        assert_eq!(
            s.metadata.labels.get("tier").map(String::as_str),
            Some("front")
        );
        assert!(s.metadata.name.starts_with("web-"));
        let e = &s.endpoints[0];
        assert_eq!(e.node_name.as_deref(), Some("node-a"));
        assert_eq!(e.zone.as_deref(), Some("zone-1"));
        assert_eq!(e.target_ref.as_ref().map(|r| r.name.as_str()), Some("a"));
        assert_eq!(s.metadata.owner_references[0].kind, "Service");
        // c turns ready, a terminates: ready follows serving, terminating is not ready.
        start(&mut h, "c", "10.0.0.3", "node-a", true);
        h.store
            .delete(Kind::Pod, "default", "a", &DeleteOptions::default(), h.now)
            .unwrap();
        h.settle();
        assert_eq!(
            summary(&h),
            ["[http=8080] 10.0.0.1:-ST 10.0.0.2:RS- 10.0.0.3:RS-"]
        );
        h.finish_deletion("default", "a");
        assert_eq!(summary(&h), ["[http=8080] 10.0.0.2:RS- 10.0.0.3:RS-"]);
        // A label change takes a pod out.
        let mut b = h.pod("default", "b").unwrap();
        b.metadata.labels.insert("app".into(), "gone".into());
        b.metadata.resource_version.clear();
        h.apply(b).unwrap();
        assert_eq!(summary(&h), ["[http=8080] 10.0.0.3:RS-"]);
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let mut h = harness();
        h.apply(service("  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: web}\n  - {name: metrics, port: 9090, targetPort: 9090}\n"))
            .unwrap();
        h.apply(pod("a", "{app: web}", "[{name: web, containerPort: 8080}]"))
            .unwrap();
        h.apply(pod("b", "{app: web}", "[{name: web, containerPort: 8081}]"))
            .unwrap();
        h.apply(pod(
            "c",
            "{app: web}",
            "[{name: other, containerPort: 7000}]",
        ))
        .unwrap();
        for (name, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2"), ("c", "10.0.0.3")] {
            start(&mut h, name, ip, "n", true);
        }
        assert_eq!(
            summary(&h),
            [
                "[http=8080,metrics=9090] 10.0.0.1:RS-",
                "[http=8081,metrics=9090] 10.0.0.2:RS-",
                "[metrics=9090] 10.0.0.3:RS-",
            ]
        );
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints_and_go_with_the_service() {
        let mut h = harness();
        h.apply(service("  selector: {app: web}\n  ports: [{port: 80}]\n"))
            .unwrap();
        for i in 0..150 {
            let name = format!("p{i:03}");
            h.store
                .create(pod(&name, "{app: web}", "[]"), h.now)
                .unwrap();
            h.store.bind("default", &name, "n", h.now).unwrap();
            let mut p = h.pod("default", &name).unwrap();
            p.status.pod_ip = format!("10.0.{}.{}", i / 200, i % 200 + 1);
            h.store.update_status(p.into(), h.now).unwrap();
        }
        h.settle();
        let mut sizes: Vec<usize> = slices(&h).iter().map(|s| s.endpoints.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [50, 100]);
        for s in slices(&h) {
            assert!(s
                .endpoints
                .iter()
                .all(|e| e.conditions.ready == Some(false)));
        }
        // Deleting the Service deletes its slices (garbage collection through the owner).
        h.store
            .delete(
                Kind::Service,
                "default",
                "web",
                &DeleteOptions::default(),
                h.now,
            )
            .unwrap();
        h.settle();
        assert!(slices(&h).is_empty());
    }

    #[test]
    fn services_without_selector_are_left_alone_and_slices_are_valid() {
        let mut h = harness();
        h.apply(service("  ports: [{port: 80}]\n")).unwrap();
        assert!(slices(&h).is_empty());
        // A slice written by the controller passes the API's validation (the store checked
        // it); a hand-made slice for the selector-less Service is not touched.
        let manual = parse_object("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-manual, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.9.9.9]}]\n");
        let r: Result<_, StoreError> = h.apply(manual);
        r.unwrap();
        assert_eq!(slices(&h).len(), 1);
        assert_eq!(slices(&h)[0].endpoints[0].addresses, ["10.9.9.9"]);
    }
}
