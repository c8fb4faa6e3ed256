//! Service discovery and load balancing through the test driver: cluster IP and node port
//! allocation, EndpointSlices following pods, the proxy's backend choice, and the environment
//! the kubelet hands to containers.

mod common;

use std::collections::BTreeMap;

use common::{Behaviour, TestDriver};
use flotilla_controllers::cluster::ClusterConfig;
use flotilla_controllers::kubelet::{ProbeKind, RuntimeCommand};
use flotilla_controllers::proxy::{BalanceMode, ProxyTable, Route};
use flotilla_controllers::testing::parse_object;
use flotilla_model::api::{EndpointSlice, Protocol};
use flotilla_model::store::{DeleteOptions, PropagationPolicy};
use flotilla_model::{Duration, Kind, Object};

const SERVICE: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  clusterIP: 10.96.0.12
  type: NodePort
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
"#;

const STICKY: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - {port: 80, targetPort: 8080}
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
"#;

/// A fourth pod behind the Service whose readiness probe always fails.
const NOT_READY: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-broken
  labels: {app: web}
spec:
  containers:
  - name: web
    image: broken:1
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
"#;

fn driver(seed: u64) -> TestDriver {
    // The default controllers include the EndpointSlice and load-balancer controllers, and a
    // new cluster has the API server's `kubernetes` Service.
    let mut d = TestDriver::with_config(ClusterConfig::new(seed));
    assert!(d
        .cluster
        .store()
        .get(Kind::Service, "default", "kubernetes")
        .is_some());
    let mut broken = Behaviour::default();
    broken.probes_pass.insert(ProbeKind::Readiness, false);
    d.behaviours.insert("broken:1".into(), broken);
    d.add_nodes(2);
    d
}

fn slices_of(d: &TestDriver, service: &str) -> Vec<EndpointSlice> {
    d.cluster
        .store()
        .iter_namespace(Kind::EndpointSlice, "default")
        .filter_map(|o| match &**o {
            Object::EndpointSlice(s) if s.service_name() == Some(service) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn pod_ip(d: &TestDriver, name: &str) -> String {
    d.pods("default")
        .into_iter()
        .find(|p| p.metadata.name == name)
        .map(|p| p.status.pod_ip)
        .unwrap_or_default()
}

#[test]
fn traffic_spreads_over_the_ready_endpoints_and_never_reaches_a_not_ready_pod() {
    let mut d = driver(11);
    d.apply_yaml(SERVICE);
    d.apply_yaml(STICKY);
    d.apply_yaml(DEPLOYMENT);
    d.apply_yaml(NOT_READY);
    d.run_for(Duration::from_secs(60));

    let slices = slices_of(&d, "web");
    assert_eq!(slices.len(), 1, "{slices:#?}");
    let endpoints = &slices[0].endpoints;
    assert_eq!(endpoints.len(), 4);
    let ready: Vec<&str> = endpoints
        .iter()
        .filter(|e| e.conditions.ready == Some(true))
        .map(|e| e.addresses[0].as_str())
        .collect();
    assert_eq!(ready.len(), 3, "{endpoints:#?}");
    assert_eq!(
        slices[0].ports[0].port,
        Some(8080),
        "the named port resolves"
    );
    let broken_ip = pod_ip(&d, "web-broken");
    assert!(!broken_ip.is_empty());
    assert!(!ready.contains(&broken_ip.as_str()));

    let mut table = d.cluster.proxy(BalanceMode::Random);
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..600 {
        let client = format!("192.168.{}.{}", i / 250, i % 250 + 1);
        match table.route("10.96.0.12", 80, Protocol::Tcp, &client, d.now) {
            Route::Backend(b) => {
                assert_eq!(b.port, 8080);
                *hits.entry(b.ip).or_default() += 1;
            }
            other => panic!("no backend: {other:?}"),
        }
    }
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(!hits.contains_key(&broken_ip));
    assert!(hits.values().all(|&n| n > 120), "{hits:?}");
    // The node port leads to the same backends.
    for _ in 0..50 {
        match table.route_node_port(30080, Protocol::Tcp, "192.168.9.9", d.now) {
            Route::Backend(b) => assert!(ready.contains(&b.ip.as_str())),
            other => panic!("no backend: {other:?}"),
        }
    }

    // ClientIP affinity: one client keeps its backend.
    let sticky = d
        .cluster
        .store()
        .get(Kind::Service, "default", "sticky")
        .and_then(|o| match &*o {
            Object::Service(s) => s.spec.cluster_ip.clone(),
            _ => None,
        })
        .expect("an allocated cluster IP");
    let mut seen = Vec::new();
    for i in 0..50 {
        let now = d.now + Duration::from_secs(i * 60);
        match table.route(&sticky, 80, Protocol::Tcp, "172.16.0.1", now) {
            Route::Backend(b) => seen.push(b.ip),
            other => panic!("no backend: {other:?}"),
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");

    // Deleting the Service takes its slices and its route with it.
    d.cluster
        .delete(
            Kind::Service,
            "default",
            "web",
            &DeleteOptions {
                propagation_policy: PropagationPolicy::Background,
                ..Default::default()
            },
        )
        .expect("delete");
    d.run_for(Duration::from_secs(5));
    assert!(slices_of(&d, "web").is_empty());
    let mut table = ProxyTable::from_store(d.cluster.store(), 11, BalanceMode::Random);
    assert_eq!(
        table.route("10.96.0.12", 80, Protocol::Tcp, "c", d.now),
        Route::NoService
    );
}

#[test]
fn endpoints_follow_pods_as_they_scale_down() {
    let mut d = driver(12);
    d.apply_yaml(SERVICE);
    d.apply_yaml(DEPLOYMENT);
    d.run_for(Duration::from_secs(60));
    assert_eq!(slices_of(&d, "web")[0].endpoints.len(), 3);
    d.apply_yaml(&DEPLOYMENT.replace("replicas: 3", "replicas: 1"));
    d.run_for(Duration::from_secs(60));
    let slices = slices_of(&d, "web");
    assert_eq!(slices[0].endpoints.len(), 1, "{slices:#?}");
    let mut table = ProxyTable::from_store(d.cluster.store(), 1, BalanceMode::RoundRobin);
    let only = slices[0].endpoints[0].addresses[0].clone();
    for _ in 0..5 {
        assert!(matches!(
            table.route("10.96.0.12", 80, Protocol::Tcp, "c", d.now),
            Route::Backend(b) if b.ip == only
        ));
    }
}

#[test]
fn containers_get_the_service_variables_when_they_start() {
    let mut d = driver(13);
    d.apply_yaml(SERVICE);
    d.apply_yaml(DEPLOYMENT);
    d.run_for(Duration::from_secs(30));
    let starts: Vec<&Vec<(String, String)>> = d
        .commands
        .iter()
        .filter_map(|(_, _, c)| match c {
            RuntimeCommand::StartContainer { env, .. } => Some(env),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 3);
    for env in starts {
        let map: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(map.get("WEB_SERVICE_HOST"), Some(&"10.96.0.12"));
        assert_eq!(map.get("WEB_SERVICE_PORT"), Some(&"80"));
        assert_eq!(map.get("WEB_SERVICE_PORT_HTTP"), Some(&"80"));
        assert_eq!(map.get("WEB_PORT"), Some(&"tcp://10.96.0.12:80"));
        assert_eq!(map.get("WEB_PORT_80_TCP"), Some(&"tcp://10.96.0.12:80"));
        assert_eq!(map.get("WEB_PORT_80_TCP_PROTO"), Some(&"tcp"));
        assert_eq!(map.get("WEB_PORT_80_TCP_PORT"), Some(&"80"));
        assert_eq!(map.get("WEB_PORT_80_TCP_ADDR"), Some(&"10.96.0.12"));
        assert_eq!(map.get("KUBERNETES_SERVICE_HOST"), Some(&"10.96.0.1"));
        assert_eq!(map.get("KUBERNETES_SERVICE_PORT"), Some(&"443"));
    }
}

#[test]
fn a_missing_config_map_leaves_the_container_waiting_until_it_exists() {
    let mut d = driver(14);
    d.apply_yaml(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - name: app
    image: app:1
    env:
    - name: MODE
      valueFrom: {configMapKeyRef: {name: cfg, key: mode}}
    - name: URL
      value: "http://$(WEB_SERVICE_HOST)/$(MODE)"
"#,
    );
    d.apply_yaml(SERVICE);
    d.run_for(Duration::from_secs(20));
    let pod = d
        .pods("default")
        .into_iter()
        .find(|p| p.metadata.name == "app")
        .expect("pod");
    let waiting = pod.status.container_statuses[0]
        .state
        .waiting
        .clone()
        .expect("waiting");
    assert_eq!(waiting.reason, "CreateContainerConfigError");
    assert_eq!(waiting.message, "configmap \"cfg\" not found");
    let failed: Vec<String> = d
        .cluster
        .events()
        .events()
        .filter(|e| e.reason == "Failed" && e.object.name == "app")
        .map(|e| e.message.clone())
        .collect();
    assert!(
        failed.contains(&"Error: configmap \"cfg\" not found".to_string()),
        "{failed:?}"
    );

    d.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {mode: fast}\n");
    d.run_for(Duration::from_secs(15));
    let pod = d
        .pods("default")
        .into_iter()
        .find(|p| p.metadata.name == "app")
        .expect("pod");
    assert!(
        pod.status.container_statuses[0].state.running.is_some(),
        "{:?}",
        pod.status
    );
    let env = d
        .commands
        .iter()
        .find_map(|(_, _, c)| match c {
            RuntimeCommand::StartContainer { env, .. } => Some(env.clone()),
            _ => None,
        })
        .expect("started");
    assert!(
        env.contains(&("URL".to_string(), "http://10.96.0.12/fast".to_string())),
        "{env:?}"
    );
}

#[test]
fn allocation_conflicts_are_refused_with_the_api_servers_messages() {
    let mut d = driver(15);
    d.apply_yaml(SERVICE);
    let same_ip = SERVICE
        .replace("name: web", "name: other")
        .replace("nodePort: 30080", "nodePort: 30081");
    let err = d
        .cluster
        .apply(parse_object(&same_ip))
        .expect_err("taken IP");
    assert_eq!(
        err.to_string(),
        "Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.12\"}: \
         failed to allocate IP 10.96.0.12: provided IP is already allocated"
    );
    let same_port = SERVICE
        .replace("name: web", "name: other")
        .replace("clusterIP: 10.96.0.12", "clusterIP: 10.96.0.13");
    let err = d
        .cluster
        .apply(parse_object(&same_port))
        .expect_err("taken node port");
    assert_eq!(
        err.to_string(),
        "Service \"other\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: \
         provided port is already allocated"
    );
    // Nothing was kept by the refused creates: both values are still free for others.
    d.cluster
        .apply(parse_object(
            &SERVICE
                .replace("name: web", "name: third")
                .replace("clusterIP: 10.96.0.12", "clusterIP: 10.96.0.13")
                .replace("nodePort: 30080", "nodePort: 30081"),
        ))
        .expect("free values");
    // A LoadBalancer Service gets node ports and an address from the documentation range.
    d.cluster
        .apply(parse_object(
            "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 443}]\n",
        ))
        .expect("lb");
    d.run_for(Duration::from_secs(1));
    let Some(Object::Service(lb)) = d
        .cluster
        .store()
        .get(Kind::Service, "default", "lb")
        .as_deref()
        .cloned()
    else {
        panic!("no lb service");
    };
    assert!(lb.spec.ports[0]
        .node_port
        .is_some_and(|p| (30000..=32767).contains(&p)));
    assert_eq!(
        lb.status.load_balancer.ingress[0].ip.as_deref(),
        Some("192.0.2.1")
    );
}
