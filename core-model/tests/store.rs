//! Integration tests of the object store through its public API: what each request does to the
//! stored objects, the watch log and quota usage, and the exact errors Kubernetes' API server
//! gives for the same requests (v1.34).

use std::sync::Arc;

use flotilla_model::manifest;
use flotilla_model::store::{
    DeleteOptions, DeleteOutcome, ListOptions, PropagationPolicy, Store, StoreConfig, StoreError,
    WatchCursor, WatchEvent, WatchEventType,
};
use flotilla_model::{FieldSelector, Kind, Object, Selector, Time};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn new_store() -> Store {
    Store::new(StoreConfig::default())
}

fn t(secs: u64) -> Time {
    Time::from_secs(secs)
}

/// The one object of a YAML manifest, as the manifest loader reads it.
fn parse(yaml: &str) -> Object {
    let docs = manifest::parse_str("test.yaml", yaml).expect("the test manifest parses");
    assert_eq!(docs.objects.len(), 1, "one object per test manifest");
    docs.objects.into_iter().next().expect("one object").object
}

fn create(store: &mut Store, yaml: &str) -> Arc<Object> {
    store
        .create(parse(yaml), t(100))
        .expect("the test object is admitted")
}

/// The object as JSON, to read fields by pointer (`/spec/priority`).
fn json_of(object: &Object) -> Value {
    object.to_value()
}

fn field(object: &Object, pointer: &str) -> Value {
    json_of(object)
        .pointer(pointer)
        .cloned()
        .unwrap_or(Value::Null)
}

fn get(store: &Store, kind: Kind, namespace: &str, name: &str) -> Arc<Object> {
    store
        .get(kind, namespace, name)
        .expect("the object is stored")
}

fn message(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn pod_yaml(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{app: web}}\n\
         spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    )
}

/// A pod whose one container requests and limits `cpu` and `memory`.
fn sized_pod(name: &str, namespace: &str, cpu: &str, memory: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  containers:\n\
         \x20 - name: app\n    image: nginx:1.27\n    resources:\n      requests: {{cpu: {cpu}, memory: {memory}}}\n\
         \x20     limits: {{cpu: {cpu}, memory: {memory}}}\n"
    )
}

fn config_map(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  mode: blue\n"
    )
}

fn create_namespace(store: &mut Store, name: &str) {
    create(
        store,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    );
}

/// Everything a rejected request must leave alone: the version, the log and every object.
fn snapshot(store: &Store) -> (u64, usize, Vec<Arc<Object>>) {
    let log = store.changes_since(0).expect("full history").len();
    let objects = Kind::ALL
        .iter()
        .flat_map(|k| store.iter_kind(*k).cloned().collect::<Vec<_>>())
        .collect();
    (store.resource_version(), log, objects)
}

fn quota_used(store: &Store, namespace: &str, name: &str) -> Value {
    field(
        &get(store, Kind::ResourceQuota, namespace, name),
        "/status/used",
    )
}

fn events_since(store: &Store, rv: u64) -> Vec<WatchEvent> {
    store
        .changes_since(rv)
        .expect("recent history")
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

#[test]
fn create_sets_server_fields_applies_defaults_and_drops_client_status() {
    let mut store = new_store();
    let before = store.resource_version();
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  uid: client-made-up\n  resourceVersion: '7'\n  \
                generation: 9\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n    resources:\n      \
                limits: {cpu: 500m, memory: 128Mi}\nstatus:\n  phase: Running\n";
    let pod = store
        .create(parse(yaml), t(1_700_000_000))
        .expect("admitted");
    let meta = pod.metadata();
    assert_eq!(
        meta.namespace, "default",
        "a namespaced object defaults to `default`"
    );
    assert_eq!(meta.resource_version, (before + 1).to_string());
    assert_eq!(store.resource_version(), before + 1);
    assert_eq!(meta.generation, 1);
    assert_eq!(meta.creation_timestamp, Some(t(1_700_000_000)));
    assert_ne!(meta.uid, "client-made-up");
    // A version-4 uid in canonical form.
    let uid: Vec<char> = meta.uid.chars().collect();
    assert_eq!(uid.len(), 36);
    assert_eq!(
        (uid[8], uid[13], uid[14], uid[18], uid[23]),
        ('-', '-', '4', '-', '-')
    );
    assert!("89ab".contains(uid[19]), "{}", meta.uid);
    // Defaults: restart policy, grace period, scheduler, requests from limits.
    assert_eq!(field(&pod, "/spec/restartPolicy"), "Always");
    assert_eq!(field(&pod, "/spec/terminationGracePeriodSeconds"), 30);
    assert_eq!(field(&pod, "/spec/schedulerName"), "default-scheduler");
    assert_eq!(
        field(&pod, "/spec/containers/0/resources/requests/cpu"),
        "500m"
    );
    // The status is the server's: the client's `Running` is replaced by the initial state.
    assert_eq!(field(&pod, "/status/phase"), "Pending");
    assert_eq!(field(&pod, "/status/qosClass"), "Guaranteed");
    // No priority class anywhere: priority 0, PreemptLowerPriority.
    assert_eq!(field(&pod, "/spec/priority"), 0);
    assert_eq!(
        field(&pod, "/spec/preemptionPolicy"),
        "PreemptLowerPriority"
    );
    // The stored object is the returned one.
    assert!(Arc::ptr_eq(&pod, &get(&store, Kind::Pod, "default", "web")));
}

#[test]
fn cluster_scoped_objects_lose_a_namespace_and_namespaces_get_their_defaults() {
    let mut store = new_store();
    let ns = create(
        &mut store,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  namespace: default\n",
    );
    assert_eq!(ns.metadata().namespace, "");
    assert_eq!(field(&ns, "/spec/finalizers"), json!(["kubernetes"]));
    assert_eq!(field(&ns, "/status/phase"), "Active");
    assert_eq!(
        field(&ns, "/metadata/labels/kubernetes.io~1metadata.name"),
        "shop"
    );
    assert!(store.get(Kind::Namespace, "", "shop").is_some());
    let pc = create(
        &mut store,
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: batch, namespace: shop}\nvalue: 10\n",
    );
    assert_eq!(pc.metadata().namespace, "");
    assert!(store.get(Kind::PriorityClass, "", "batch").is_some());
}

#[test]
fn a_new_store_has_the_initial_namespaces_and_system_priority_classes() {
    let store = new_store();
    let (namespaces, rv) = store
        .list(Kind::Namespace, &ListOptions::default())
        .unwrap();
    let names: Vec<&str> = namespaces
        .iter()
        .map(|n| n.metadata().name.as_str())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let (classes, _) = store
        .list(Kind::PriorityClass, &ListOptions::default())
        .unwrap();
    let names: Vec<&str> = classes.iter().map(|c| c.metadata().name.as_str()).collect();
    assert_eq!(names, ["system-cluster-critical", "system-node-critical"]);
    assert_eq!(rv, 6);
    let empty = Store::new(StoreConfig {
        bootstrap: false,
        ..StoreConfig::default()
    });
    assert!(empty.is_empty());
    assert_eq!(empty.resource_version(), 0);
}

#[test]
fn creating_a_taken_name_is_already_exists_after_admission() {
    let mut store = new_store();
    create(&mut store, &pod_yaml("web", "default"));
    let snap = snapshot(&store);
    assert_eq!(
        message(store.create(parse(&pod_yaml("web", "default")), t(5))),
        "pods \"web\" already exists"
    );
    // Validation runs before the storage layer looks at the name, as in Kubernetes.
    let invalid =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n";
    assert_eq!(
        message(store.create(parse(invalid), t(5))),
        "Pod \"web\" is invalid: spec.containers[0].image: Required value"
    );
    // Kinds of a named group are qualified by it.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  \
                  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, image: 'api:2'}]\n";
    create(&mut store, deploy);
    assert_eq!(
        message(store.create(parse(deploy), t(5))),
        "deployments.apps \"api\" already exists"
    );
    // The same name in another namespace is another object.
    create_namespace(&mut store, "shop");
    create(&mut store, &pod_yaml("web", "shop"));
    assert_ne!(snapshot(&store).0, snap.0);
}

#[test]
fn generate_name_appends_five_characters_of_the_kubernetes_alphabet() {
    let mut store = new_store();
    let yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: settings-\ndata: {a: b}\n";
    let mut names = Vec::new();
    for _ in 0..20 {
        let cm = create(&mut store, yaml);
        let name = cm.metadata().name.clone();
        let suffix = name.strip_prefix("settings-").expect("the prefix is kept");
        assert_eq!(suffix.len(), 5, "{name}");
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{name}"
        );
        assert_eq!(cm.metadata().generate_name, "settings-");
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "generated names are unique");
    // A long prefix is cut so that the name fits in 63 characters.
    let long = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: {}\n",
        "a".repeat(58)
    );
    let cm = create(&mut store, &long);
    assert_eq!(cm.metadata().name.len(), 63);
}

#[test]
fn uids_and_generated_names_depend_only_on_the_seed() {
    let run = |seed: u64| {
        let mut store = Store::new(StoreConfig {
            seed,
            ..StoreConfig::default()
        });
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec:\n  containers: [{name: web, image: nginx}]\n";
        (0..3)
            .map(|_| {
                let pod = create(&mut store, yaml);
                (pod.metadata().name.clone(), pod.metadata().uid.clone())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    let a = run(7);
    let b = run(8);
    assert!(a.iter().zip(&b).all(|(x, y)| x.0 != y.0 && x.1 != y.1));
}

#[test]
fn a_rejected_create_does_not_shift_the_random_stream() {
    let config = StoreConfig {
        seed: 3,
        ..StoreConfig::default()
    };
    let generated = "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cm-}\n";
    let mut clean = Store::new(config.clone());
    let expected = create(&mut clean, generated);

    let mut store = Store::new(config);
    // Rejected: an invalid generated object, and a valid one in a missing namespace.
    let invalid =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cm-}\ndata: {'bad key': x}\n";
    assert!(store.create(parse(invalid), t(1)).is_err());
    let elsewhere =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cm-, namespace: nowhere}\n";
    assert!(store.create(parse(elsewhere), t(1)).is_err());
    let got = create(&mut store, generated);
    assert_eq!(got.metadata().name, expected.metadata().name);
    assert_eq!(got.metadata().uid, expected.metadata().uid);
}

#[test]
fn creating_in_a_missing_or_terminating_namespace_is_refused() {
    let mut store = new_store();
    assert_eq!(
        message(store.create(parse(&pod_yaml("web", "nowhere")), t(1))),
        "namespaces \"nowhere\" not found"
    );
    create_namespace(&mut store, "shop");
    let outcome = store
        .delete(Kind::Namespace, "", "shop", &DeleteOptions::default(), t(2))
        .unwrap();
    assert!(matches!(outcome, DeleteOutcome::Pending(_)));
    let snap = snapshot(&store);
    assert_eq!(
        message(store.create(parse(&pod_yaml("web", "shop")), t(3))),
        "pods \"web\" is forbidden: unable to create new content in namespace shop because it is being terminated"
    );
    assert_eq!(snapshot(&store), snap);
}

#[test]
fn a_job_gets_a_selector_generated_from_its_uid() {
    let mut store = new_store();
    let job = create(
        &mut store,
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      \
         containers: [{name: pi, image: perl:5.34, command: [perl, -e, 'print 1']}]\n",
    );
    let uid = job.metadata().uid.clone();
    assert_eq!(
        field(&job, "/spec/selector/matchLabels"),
        json!({"batch.kubernetes.io/controller-uid": uid})
    );
    let labels = field(&job, "/spec/template/metadata/labels");
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
    assert_eq!(labels["controller-uid"], uid);
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(labels["job-name"], "pi");
}

// ---------------------------------------------------------------------------------------------
// Get and list
// ---------------------------------------------------------------------------------------------

fn names(items: &[Arc<Object>]) -> Vec<String> {
    items
        .iter()
        .map(|o| format!("{}/{}", o.metadata().namespace, o.metadata().name))
        .collect()
}

#[test]
fn list_filters_by_namespace_and_labels_in_key_order() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    for (name, ns, tier) in [
        ("b", "shop", "front"),
        ("a", "shop", "back"),
        ("c", "default", "front"),
        ("a", "default", "front"),
    ] {
        create(
            &mut store,
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}, labels: {{tier: {tier}}}}}\n"),
        );
    }
    let all = store
        .list(Kind::ConfigMap, &ListOptions::default())
        .unwrap();
    assert_eq!(
        names(&all.0),
        ["default/a", "default/c", "shop/a", "shop/b"]
    );
    assert_eq!(all.1, store.resource_version());
    let in_shop = ListOptions {
        namespace: Some("shop".into()),
        ..Default::default()
    };
    assert_eq!(
        names(&store.list(Kind::ConfigMap, &in_shop).unwrap().0),
        ["shop/a", "shop/b"]
    );
    let everywhere = ListOptions {
        namespace: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(store.list(Kind::ConfigMap, &everywhere).unwrap().0.len(), 4);
    let front = ListOptions {
        label_selector: Some(Selector::parse("tier in (front),tier!=back").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        names(&store.list(Kind::ConfigMap, &front).unwrap().0),
        ["default/a", "default/c", "shop/b"]
    );
    // Items are the stored objects themselves.
    let listed = &store.list(Kind::ConfigMap, &in_shop).unwrap().0[0];
    assert!(Arc::ptr_eq(
        listed,
        &get(&store, Kind::ConfigMap, "shop", "a")
    ));
    // `get` with an empty namespace looks in `default`; cluster-scoped kinds ignore it.
    assert!(store.get(Kind::ConfigMap, "", "c").is_some());
    assert!(store.get(Kind::ConfigMap, "", "b").is_none());
    assert!(store.get(Kind::Namespace, "anything", "shop").is_some());
}

#[test]
fn field_selectors_filter_on_the_fields_each_kind_supports() {
    let mut store = new_store();
    let bound = "apiVersion: v1\nkind: Pod\nmetadata: {name: bound}\nspec:\n  nodeName: node-1\n  containers: [{name: c, image: nginx}]\n";
    create(&mut store, bound);
    create(&mut store, &pod_yaml("pending", "default"));
    let running = store
        .update_status(
            parse("apiVersion: v1\nkind: Pod\nmetadata: {name: bound}\nstatus: {phase: Running}\n"),
            t(2),
        )
        .unwrap();
    assert_eq!(field(&running, "/status/phase"), "Running");
    let by = |selector: &str| {
        let options = ListOptions {
            field_selector: Some(FieldSelector::parse(selector).unwrap()),
            ..Default::default()
        };
        store
            .list(Kind::Pod, &options)
            .map(|(items, _)| names(&items))
    };
    assert_eq!(by("spec.nodeName=node-1").unwrap(), ["default/bound"]);
    assert_eq!(by("spec.nodeName=").unwrap(), ["default/pending"]);
    assert_eq!(by("spec.nodeName!=").unwrap(), ["default/bound"]);
    assert_eq!(by("status.phase=Pending").unwrap(), ["default/pending"]);
    assert_eq!(
        by("metadata.namespace=default,status.phase!=Pending").unwrap(),
        ["default/bound"]
    );
    assert_eq!(
        by("spec.restartPolicy=Always,spec.schedulerName=default-scheduler")
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        message(by("spec.containers=web")),
        "field label not supported: spec.containers (supported for pods: metadata.name, \
         metadata.namespace, spec.nodeName, spec.restartPolicy, spec.schedulerName, \
         spec.serviceAccountName, spec.hostNetwork, status.phase, status.podIP, \
         status.nominatedNodeName)"
    );
    // Cluster-scoped kinds have no metadata.namespace field.
    let options = ListOptions {
        field_selector: Some(FieldSelector::parse("metadata.namespace=default").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        message(store.list(Kind::Namespace, &options)),
        "field label not supported: metadata.namespace (supported for namespaces: metadata.name, status.phase)"
    );
    let options = ListOptions {
        field_selector: Some(FieldSelector::parse("status.phase=Active").unwrap()),
        ..Default::default()
    };
    assert_eq!(store.list(Kind::Namespace, &options).unwrap().0.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Update and update_status
// ---------------------------------------------------------------------------------------------

fn deployment(replicas: u32, app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, labels: {{team: a}}}}\nspec:\n  replicas: {replicas}\n  \
         selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec:\n      \
         containers: [{{name: web, image: 'nginx:1.27'}}]\n"
    )
}

fn with_resource_version(mut object: Object, rv: &str) -> Object {
    object.metadata_mut().resource_version = rv.to_string();
    object
}

#[test]
fn an_update_with_a_stale_resource_version_conflicts_and_an_empty_one_does_not() {
    let mut store = new_store();
    let v1 = create(&mut store, &deployment(1, "web"));
    let v2 = store
        .update(
            with_resource_version(
                parse(&deployment(2, "web")),
                &v1.metadata().resource_version,
            ),
            t(200),
        )
        .expect("the version matches");
    assert_eq!(field(&v2, "/spec/replicas"), 2);
    let snap = snapshot(&store);
    let stale = with_resource_version(
        parse(&deployment(3, "web")),
        &v1.metadata().resource_version,
    );
    assert_eq!(
        message(store.update(stale, t(300))),
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    assert_eq!(snapshot(&store), snap);
    // A uid that is not the stored one is a failed precondition.
    let mut other = parse(&deployment(3, "web"));
    other.metadata_mut().uid = "1234".into();
    assert_eq!(
        message(store.update(other, t(300))),
        format!(
            "Operation cannot be fulfilled on deployments.apps \"web\": Precondition failed: UID in \
             precondition: 1234, UID in object meta: {}",
            v1.metadata().uid
        )
    );
    // No resourceVersion: unconditional.
    let v3 = store.update(parse(&deployment(3, "web")), t(300)).unwrap();
    assert_eq!(field(&v3, "/spec/replicas"), 3);
    assert_eq!(
        v3.metadata().resource_version,
        store.resource_version().to_string()
    );
    // Updating what does not exist.
    assert_eq!(
        message(store.update(parse(&pod_yaml("ghost", "default")), t(1))),
        "pods \"ghost\" not found"
    );
}

#[test]
fn update_keeps_server_fields_and_status_and_bumps_generation_on_spec_changes_only() {
    let mut store = new_store();
    let created = create(&mut store, &deployment(1, "web"));
    let status = parse(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nstatus: {replicas: 1, readyReplicas: 1, observedGeneration: 1}\n",
    );
    store.update_status(status, t(150)).unwrap();

    // The original manifest again (no defaults in it): nothing changes, nothing is written.
    let rv = store.resource_version();
    let same = store.update(parse(&deployment(1, "web")), t(200)).unwrap();
    assert_eq!(store.resource_version(), rv);
    assert_eq!(same.metadata().generation, 1);

    // Labels are not the spec: no generation bump, but a write.
    let mut relabelled = parse(&deployment(1, "web"));
    relabelled
        .metadata_mut()
        .labels
        .insert("team".into(), "b".into());
    relabelled.metadata_mut().creation_timestamp = Some(t(5));
    relabelled.metadata_mut().uid.clear();
    let v2 = store.update(relabelled, t(200)).unwrap();
    assert_eq!(store.resource_version(), rv + 1);
    assert_eq!(v2.metadata().generation, 1);
    assert_eq!(v2.metadata().labels["team"], "b");
    assert_eq!(v2.metadata().uid, created.metadata().uid);
    assert_eq!(v2.metadata().creation_timestamp, Some(t(100)));
    // The status written through the status subresource survived an update without one.
    assert_eq!(field(&v2, "/status/readyReplicas"), 1);

    // A spec change bumps the generation, once.
    let v3 = store.update(parse(&deployment(4, "web")), t(300)).unwrap();
    assert_eq!(v3.metadata().generation, 2);
    assert_eq!(field(&v3, "/status/readyReplicas"), 1);
    let mut sneaky = parse(&deployment(4, "web"));
    sneaky.metadata_mut().generation = 40;
    let v4 = store.update(sneaky, t(300)).unwrap();
    assert_eq!(
        v4.metadata().generation,
        2,
        "clients cannot set the generation"
    );
}

#[test]
fn update_status_changes_only_the_status() {
    let mut store = new_store();
    create(&mut store, &deployment(1, "web"));
    let mut request = parse(&deployment(9, "web"));
    request
        .metadata_mut()
        .labels
        .insert("team".into(), "z".into());
    if let Object::Deployment(d) = &mut request {
        d.status.replicas = 1;
        d.status.observed_generation = 1;
    }
    let after = store.update_status(request, t(200)).unwrap();
    assert_eq!(field(&after, "/spec/replicas"), 1);
    assert_eq!(after.metadata().labels["team"], "a");
    assert_eq!(after.metadata().generation, 1);
    assert_eq!(field(&after, "/status/replicas"), 1);
    assert_eq!(field(&after, "/status/observedGeneration"), 1);
    // The same status again writes nothing.
    let rv = store.resource_version();
    let again = store.update_status((*after).clone(), t(201)).unwrap();
    assert!(Arc::ptr_eq(&again, &after));
    assert_eq!(store.resource_version(), rv);
    // Stale versions conflict here too.
    let stale = with_resource_version((*after).clone(), "1");
    assert!(matches!(
        store.update_status(stale, t(202)),
        Err(StoreError::Conflict { .. })
    ));
}

#[test]
fn immutable_fields_are_refused_with_every_field_error() {
    let mut store = new_store();
    create(&mut store, &deployment(1, "web"));
    let snap = snapshot(&store);
    let err = store
        .update(parse(&deployment(1, "other")), t(200))
        .expect_err("the selector is immutable");
    let StoreError::Invalid { kind, name, errors } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!((*kind, name.as_str()), (Kind::Deployment, "web"));
    let paths: Vec<String> = errors.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(paths, ["spec.selector"]);
    let text = err.to_string();
    assert!(
        text.starts_with("Deployment.apps \"web\" is invalid: spec.selector: Invalid value: ")
            && text.ends_with("field is immutable"),
        "{text}"
    );
    assert_eq!(snapshot(&store), snap);

    // A pod's spec is immutable but for images and a few scheduling fields.
    create(&mut store, &pod_yaml("web", "default"));
    let new_image = pod_yaml("web", "default").replace("nginx:1.27", "nginx:1.28");
    let updated = store
        .update(parse(&new_image), t(300))
        .expect("images may change");
    assert_eq!(field(&updated, "/spec/containers/0/image"), "nginx:1.28");
    assert_eq!(updated.metadata().generation, 2);
    let new_port = new_image.replace(
        "image: nginx:1.28\n",
        "image: nginx:1.28\n    ports: [{containerPort: 80}]\n",
    );
    let text = message(store.update(parse(&new_port), t(300)));
    assert!(
        text.starts_with(
            "Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than"
        ),
        "{text}"
    );
    // Two errors at once are listed together.
    let mut pod = parse(&new_port);
    pod.metadata_mut()
        .labels
        .insert("bad key".into(), "x".into());
    let text = message(store.update(pod, t(300)));
    assert!(
        text.starts_with("Pod \"web\" is invalid: [metadata.labels: Invalid value: \"bad key\""),
        "{text}"
    );
    assert!(
        text.contains(", spec: Forbidden: pod updates may not change"),
        "{text}"
    );
}

#[test]
fn the_priority_resolved_at_creation_survives_an_update_that_omits_it() {
    let mut store = new_store();
    create(
        &mut store,
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n",
    );
    let yaml = pod_yaml("web", "default").replace("spec:\n", "spec:\n  priorityClassName: high\n");
    create(&mut store, &yaml);
    let updated = store
        .update(parse(&yaml.replace("nginx:1.27", "nginx:1.28")), t(2))
        .expect("the omitted priority is kept");
    assert_eq!(field(&updated, "/spec/priority"), 1000);
    let changed = yaml.replace(
        "priorityClassName: high\n",
        "priorityClassName: high\n  priority: 5\n",
    );
    let text = message(store.update(parse(&changed), t(3)));
    assert!(
        text.starts_with("Pod \"web\" is invalid: spec: Forbidden: pod updates may not change"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Patch
// ---------------------------------------------------------------------------------------------

#[test]
fn merge_patches_add_replace_and_remove_fields() {
    let mut store = new_store();
    create(
        &mut store,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, labels: {app: web, tier: front}}\ndata: {mode: blue, size: '3'}\n",
    );
    let patched = store
        .patch(
            Kind::ConfigMap,
            "default",
            "settings",
            &json!({
                "metadata": {"labels": {"tier": null, "env": "prod"}, "annotations": {"note": "x"}},
                "data": {"mode": "green", "size": null, "new": "1"}
            }),
            t(200),
        )
        .unwrap();
    assert_eq!(
        field(&patched, "/metadata/labels"),
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(
        field(&patched, "/metadata/annotations"),
        json!({"note": "x"})
    );
    assert_eq!(
        field(&patched, "/data"),
        json!({"mode": "green", "new": "1"})
    );
    assert_eq!(
        patched.metadata().resource_version,
        store.resource_version().to_string()
    );

    let snap = snapshot(&store);
    assert_eq!(
        message(store.patch(
            Kind::ConfigMap,
            "default",
            "settings",
            &json!({"metadata": {"name": "other"}}),
            t(1)
        )),
        "the name of the object (other) does not match the name on the URL (settings)"
    );
    assert_eq!(
        message(store.patch(
            Kind::ConfigMap,
            "default",
            "settings",
            &json!({"metadata": {"namespace": "shop"}}),
            t(1)
        )),
        "the namespace of the object (shop) does not match the namespace on the request (default)"
    );
    assert_eq!(
        message(store.patch(
            Kind::ConfigMap,
            "default",
            "settings",
            &json!({"metadata": {"resourceVersion": "1"}, "data": {"mode": "red"}}),
            t(1)
        )),
        "Operation cannot be fulfilled on configmaps \"settings\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    assert_eq!(
        message(store.patch(
            Kind::ConfigMap,
            "default",
            "settings",
            &json!(["not", "an", "object"]),
            t(1)
        )),
        "a merge patch must be a JSON object"
    );
    assert_eq!(
        message(store.patch(Kind::ConfigMap, "default", "missing", &json!({}), t(1))),
        "configmaps \"missing\" not found"
    );
    assert_eq!(snapshot(&store), snap);
    // With the current version, the patch applies.
    let rv = store.resource_version().to_string();
    let ok = store
        .patch(
            Kind::ConfigMap,
            "",
            "settings",
            &json!({"metadata": {"resourceVersion": rv}, "data": {"mode": "red"}}),
            t(2),
        )
        .unwrap();
    assert_eq!(field(&ok, "/data/mode"), "red");
}

#[test]
fn a_patch_cannot_change_the_status_but_changes_the_spec() {
    let mut store = new_store();
    create(&mut store, &deployment(1, "web"));
    let patched = store
        .patch(
            Kind::Deployment,
            "default",
            "web",
            &json!({"spec": {"replicas": 5}, "status": {"replicas": 99}}),
            t(2),
        )
        .unwrap();
    assert_eq!(field(&patched, "/spec/replicas"), 5);
    assert_eq!(field(&patched, "/status/replicas"), Value::Null);
    assert_eq!(patched.metadata().generation, 2);
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

fn deleted(outcome: DeleteOutcome) -> Arc<Object> {
    match outcome {
        DeleteOutcome::Deleted(o) => o,
        DeleteOutcome::Pending(o) => panic!("expected Deleted, got Pending {o:?}"),
    }
}

fn pending(outcome: DeleteOutcome) -> Arc<Object> {
    match outcome {
        DeleteOutcome::Pending(o) => o,
        DeleteOutcome::Deleted(o) => panic!("expected Pending, got Deleted {o:?}"),
    }
}

#[test]
fn deleting_an_object_without_finalizers_removes_it_at_once() {
    let mut store = new_store();
    let cm = create(&mut store, &config_map("settings", "default"));
    let rv = store.resource_version();
    let last = deleted(
        store
            .delete(
                Kind::ConfigMap,
                "default",
                "settings",
                &DeleteOptions::default(),
                t(200),
            )
            .unwrap(),
    );
    assert!(store.get(Kind::ConfigMap, "default", "settings").is_none());
    assert_eq!(store.resource_version(), rv + 1);
    assert_eq!(last.metadata().resource_version, (rv + 1).to_string());
    assert_eq!(last.metadata().uid, cm.metadata().uid);
    assert_eq!(field(&last, "/data/mode"), "blue");
    let events = events_since(&store, rv);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, WatchEventType::Deleted);
    assert!(Arc::ptr_eq(&events[0].object, &last));
    assert_eq!(
        message(store.delete(
            Kind::ConfigMap,
            "default",
            "settings",
            &DeleteOptions::default(),
            t(201)
        )),
        "configmaps \"settings\" not found"
    );
}

#[test]
fn finalizers_hold_a_deleted_object_until_an_update_removes_the_last_one() {
    let mut store = new_store();
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  finalizers: [example.com/a, example.com/b]\n";
    create(&mut store, yaml);
    let marked = pending(
        store
            .delete(
                Kind::ConfigMap,
                "default",
                "settings",
                &DeleteOptions::default(),
                t(200),
            )
            .unwrap(),
    );
    assert_eq!(marked.metadata().deletion_timestamp, Some(t(200)));
    assert_eq!(marked.metadata().deletion_grace_period_seconds, Some(0));
    assert_eq!(
        marked.metadata().generation,
        2,
        "the first deletionTimestamp bumps the generation"
    );
    // Deleting again changes nothing.
    let rv = store.resource_version();
    let again = pending(
        store
            .delete(
                Kind::ConfigMap,
                "default",
                "settings",
                &DeleteOptions::default(),
                t(300),
            )
            .unwrap(),
    );
    assert!(Arc::ptr_eq(&again, &marked));
    assert_eq!(store.resource_version(), rv);
    // Finalizers can only go away now.
    let mut more = (*marked).clone();
    more.metadata_mut().finalizers.push("example.com/c".into());
    assert_eq!(
        message(store.update(more, t(301))),
        "ConfigMap \"settings\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added \
         if the object is being deleted, found new finalizers []string{\"example.com/c\"}"
    );
    // The update cannot take the deletionTimestamp away either.
    let mut one_left = (*marked).clone();
    one_left.metadata_mut().finalizers = vec!["example.com/b".into()];
    one_left.metadata_mut().deletion_timestamp = None;
    let still = store.update(one_left, t(302)).unwrap();
    assert_eq!(still.metadata().deletion_timestamp, Some(t(200)));
    let rv = store.resource_version();
    let mut none_left = (*still).clone();
    none_left.metadata_mut().finalizers.clear();
    let last = store.update(none_left, t(303)).unwrap();
    assert!(store.get(Kind::ConfigMap, "default", "settings").is_none());
    let events = events_since(&store, rv);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, WatchEventType::Deleted);
    assert!(Arc::ptr_eq(&events[0].object, &last));
    assert_eq!(last.metadata().resource_version, (rv + 1).to_string());
}

#[test]
fn foreground_and_orphan_deletion_add_their_finalizers() {
    let mut store = new_store();
    create(&mut store, &deployment(1, "web"));
    let foreground = DeleteOptions {
        propagation_policy: PropagationPolicy::Foreground,
        ..DeleteOptions::default()
    };
    let marked = pending(
        store
            .delete(Kind::Deployment, "", "web", &foreground, t(200))
            .unwrap(),
    );
    assert_eq!(marked.metadata().finalizers, ["foregroundDeletion"]);
    assert_eq!(marked.metadata().deletion_timestamp, Some(t(200)));
    // A later delete asking to orphan swaps the finalizers.
    let orphan = DeleteOptions {
        propagation_policy: PropagationPolicy::Orphan,
        ..DeleteOptions::default()
    };
    let swapped = pending(
        store
            .delete(Kind::Deployment, "", "web", &orphan, t(300))
            .unwrap(),
    );
    assert_eq!(swapped.metadata().finalizers, ["orphan"]);
    assert_eq!(swapped.metadata().deletion_timestamp, Some(t(200)));
    assert_eq!(swapped.metadata().generation, 2);
    // Background leaves the finalizers alone.
    let kept = pending(
        store
            .delete(
                Kind::Deployment,
                "",
                "web",
                &DeleteOptions::default(),
                t(400),
            )
            .unwrap(),
    );
    assert_eq!(kept.metadata().finalizers, ["orphan"]);
}

#[test]
fn delete_preconditions_must_match() {
    let mut store = new_store();
    let cm = create(&mut store, &config_map("settings", "default"));
    let snap = snapshot(&store);
    let wrong_uid = DeleteOptions {
        precondition_uid: Some("0000".into()),
        ..DeleteOptions::default()
    };
    assert_eq!(
        message(store.delete(Kind::ConfigMap, "default", "settings", &wrong_uid, t(1))),
        format!(
            "Operation cannot be fulfilled on configmaps \"settings\": the UID in the precondition (0000) \
             does not match the UID in record ({}). The object might have been deleted and then recreated",
            cm.metadata().uid
        )
    );
    let wrong_rv = DeleteOptions {
        precondition_resource_version: Some("1".into()),
        ..DeleteOptions::default()
    };
    assert_eq!(
        message(store.delete(Kind::ConfigMap, "default", "settings", &wrong_rv, t(1))),
        format!(
            "Operation cannot be fulfilled on configmaps \"settings\": the ResourceVersion in the precondition \
             (1) does not match the ResourceVersion in record ({}). The object might have been modified",
            cm.metadata().resource_version
        )
    );
    assert_eq!(snapshot(&store), snap);
    let right = DeleteOptions {
        precondition_uid: Some(cm.metadata().uid.clone()),
        precondition_resource_version: Some(cm.metadata().resource_version.clone()),
        ..DeleteOptions::default()
    };
    deleted(
        store
            .delete(Kind::ConfigMap, "default", "settings", &right, t(1))
            .unwrap(),
    );
}

fn bound_pod(name: &str, grace: Option<i64>) -> String {
    let grace = grace.map_or(String::new(), |g| {
        format!("  terminationGracePeriodSeconds: {g}\n")
    });
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: node-1\n{grace}  containers: [{{name: c, image: nginx}}]\n"
    )
}

#[test]
fn a_bound_pod_is_deleted_gracefully_and_removed_by_its_kubelet() {
    let mut store = new_store();
    create(&mut store, &bound_pod("web", None));
    let marked = pending(
        store
            .delete(
                Kind::Pod,
                "default",
                "web",
                &DeleteOptions::default(),
                t(1000),
            )
            .unwrap(),
    );
    assert_eq!(
        marked.metadata().deletion_timestamp,
        Some(t(1030)),
        "now + 30 s"
    );
    assert_eq!(marked.metadata().deletion_grace_period_seconds, Some(30));
    assert_eq!(marked.metadata().generation, 2);
    // A second delete without a shorter grace period changes nothing.
    let rv = store.resource_version();
    for grace in [None, Some(30), Some(60)] {
        let options = DeleteOptions {
            grace_period_seconds: grace,
            ..DeleteOptions::default()
        };
        let same = pending(
            store
                .delete(Kind::Pod, "default", "web", &options, t(1010))
                .unwrap(),
        );
        assert!(Arc::ptr_eq(&same, &marked));
    }
    assert_eq!(store.resource_version(), rv);
    // A shorter one moves the deadline by the difference.
    let shorter = DeleteOptions {
        grace_period_seconds: Some(10),
        ..DeleteOptions::default()
    };
    let sooner = pending(
        store
            .delete(Kind::Pod, "default", "web", &shorter, t(1010))
            .unwrap(),
    );
    assert_eq!(sooner.metadata().deletion_timestamp, Some(t(1010)));
    assert_eq!(sooner.metadata().deletion_grace_period_seconds, Some(10));
    assert_eq!(sooner.metadata().generation, 2);
    // The pod stays while in its grace period, even if its status changes.
    let status =
        parse("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nstatus: {phase: Running}\n");
    store.update_status(status, t(1011)).unwrap();
    assert!(store.get(Kind::Pod, "default", "web").is_some());
    // The kubelet deletes it with grace 0.
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    let last = deleted(
        store
            .delete(Kind::Pod, "default", "web", &now, t(1012))
            .unwrap(),
    );
    assert_eq!(field(&last, "/status/phase"), "Running");
    assert!(store.get(Kind::Pod, "default", "web").is_none());
}

#[test]
fn pod_grace_periods_follow_the_pod_and_the_request() {
    let mut store = new_store();
    // The pod's own terminationGracePeriodSeconds, or the request's.
    create(&mut store, &bound_pod("own", Some(5)));
    let p = pending(
        store
            .delete(Kind::Pod, "", "own", &DeleteOptions::default(), t(100))
            .unwrap(),
    );
    assert_eq!(p.metadata().deletion_timestamp, Some(t(105)));
    create(&mut store, &bound_pod("asked", Some(5)));
    let asked = DeleteOptions {
        grace_period_seconds: Some(12),
        ..DeleteOptions::default()
    };
    let p = pending(
        store
            .delete(Kind::Pod, "", "asked", &asked, t(100))
            .unwrap(),
    );
    assert_eq!(p.metadata().deletion_grace_period_seconds, Some(12));
    // A negative grace period counts as one second.
    create(&mut store, &bound_pod("negative", None));
    let negative = DeleteOptions {
        grace_period_seconds: Some(-5),
        ..DeleteOptions::default()
    };
    let p = pending(
        store
            .delete(Kind::Pod, "", "negative", &negative, t(100))
            .unwrap(),
    );
    assert_eq!(p.metadata().deletion_grace_period_seconds, Some(1));
    assert_eq!(p.metadata().deletion_timestamp, Some(t(101)));
    // Grace 0 on a bound pod: gone at once (a force delete).
    create(&mut store, &bound_pod("forced", None));
    let zero = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    deleted(
        store
            .delete(Kind::Pod, "", "forced", &zero, t(100))
            .unwrap(),
    );
    // An unbound pod has no kubelet to wait for.
    create(&mut store, &pod_yaml("unbound", "default"));
    deleted(
        store
            .delete(Kind::Pod, "", "unbound", &DeleteOptions::default(), t(100))
            .unwrap(),
    );
    // Nor has a finished one.
    create(&mut store, &bound_pod("done", None));
    let status =
        parse("apiVersion: v1\nkind: Pod\nmetadata: {name: done}\nstatus: {phase: Succeeded}\n");
    store.update_status(status, t(101)).unwrap();
    deleted(
        store
            .delete(Kind::Pod, "", "done", &DeleteOptions::default(), t(102))
            .unwrap(),
    );
}

#[test]
fn a_pod_with_a_finalizer_waits_for_both_its_grace_period_and_the_finalizer() {
    let mut store = new_store();
    let yaml = bound_pod("web", None)
        .replace("{name: web}", "{name: web, finalizers: [example.com/keep]}");
    create(&mut store, &yaml);
    let marked = pending(
        store
            .delete(Kind::Pod, "", "web", &DeleteOptions::default(), t(100))
            .unwrap(),
    );
    // The finalizer goes first: the pod stays for its kubelet.
    let mut released = (*marked).clone();
    released.metadata_mut().finalizers.clear();
    let kept = store.update(released, t(101)).unwrap();
    assert!(kept.metadata().finalizers.is_empty());
    assert!(store.get(Kind::Pod, "", "web").is_some());
    let zero = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    deleted(store.delete(Kind::Pod, "", "web", &zero, t(102)).unwrap());

    // The other way round: the kubelet's delete leaves it to the finalizer.
    create(&mut store, &yaml);
    pending(
        store
            .delete(Kind::Pod, "", "web", &DeleteOptions::default(), t(200))
            .unwrap(),
    );
    let waiting = pending(store.delete(Kind::Pod, "", "web", &zero, t(201)).unwrap());
    assert_eq!(waiting.metadata().deletion_grace_period_seconds, Some(0));
    assert_eq!(waiting.metadata().deletion_timestamp, Some(t(200)));
    let mut released = (*waiting).clone();
    released.metadata_mut().finalizers.clear();
    store.update(released, t(202)).unwrap();
    assert!(store.get(Kind::Pod, "", "web").is_none());
}

#[test]
fn a_deleted_namespace_is_terminating_until_its_finalizers_are_removed() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    let terminating = pending(
        store
            .delete(
                Kind::Namespace,
                "",
                "shop",
                &DeleteOptions::default(),
                t(500),
            )
            .unwrap(),
    );
    assert_eq!(field(&terminating, "/status/phase"), "Terminating");
    assert_eq!(terminating.metadata().deletion_timestamp, Some(t(500)));
    assert_eq!(
        field(&terminating, "/spec/finalizers"),
        json!(["kubernetes"])
    );
    // Deleting again changes nothing.
    let rv = store.resource_version();
    pending(
        store
            .delete(
                Kind::Namespace,
                "",
                "shop",
                &DeleteOptions::default(),
                t(600),
            )
            .unwrap(),
    );
    assert_eq!(store.resource_version(), rv);
    // A label change keeps it terminating (and keeps its finalizer).
    let mut relabelled = (*terminating).clone();
    relabelled
        .metadata_mut()
        .labels
        .insert("team".into(), "x".into());
    let still = store.update(relabelled, t(601)).unwrap();
    assert_eq!(field(&still, "/spec/finalizers"), json!(["kubernetes"]));
    assert_eq!(field(&still, "/status/phase"), "Terminating");
    // The namespace controller's finalize: the namespace goes.
    let mut finalized = (*still).clone();
    if let Object::Namespace(ns) = &mut finalized {
        ns.spec.finalizers.clear();
    }
    store.update(finalized, t(700)).unwrap();
    assert!(store.get(Kind::Namespace, "", "shop").is_none());
    assert_eq!(
        events_since(&store, rv + 1).last().map(|e| e.event_type),
        Some(WatchEventType::Deleted)
    );
    // Without the finalizer, an active namespace can still be updated and keeps its phase.
    create_namespace(&mut store, "tmp");
    let mut bare = (*get(&store, Kind::Namespace, "", "tmp")).clone();
    if let Object::Namespace(ns) = &mut bare {
        ns.spec.finalizers.clear();
    }
    let bare = store.update(bare, t(800)).unwrap();
    assert_eq!(field(&bare, "/spec/finalizers"), Value::Null);
    assert_eq!(field(&bare, "/status/phase"), "Active");
    deleted(
        store
            .delete(
                Kind::Namespace,
                "",
                "tmp",
                &DeleteOptions::default(),
                t(801),
            )
            .unwrap(),
    );
}

// ---------------------------------------------------------------------------------------------
// Watch
// ---------------------------------------------------------------------------------------------

#[test]
fn watches_report_chosen_kinds_and_namespaces_in_order_sharing_the_stored_objects() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    let mut all_pods = WatchCursor::new(&[Kind::Pod], store.resource_version());
    let mut shop = WatchCursor::new(&[Kind::Pod, Kind::ConfigMap], store.resource_version())
        .in_namespace("shop");
    let mut everything = WatchCursor::new(&[], store.resource_version());
    create(&mut store, &pod_yaml("a", "default"));
    create(&mut store, &config_map("c", "shop"));
    create(&mut store, &pod_yaml("b", "shop"));
    store
        .patch(
            Kind::Pod,
            "shop",
            "b",
            &json!({"metadata": {"labels": {"v": "2"}}}),
            t(2),
        )
        .unwrap();
    store
        .delete(Kind::Pod, "default", "a", &DeleteOptions::default(), t(3))
        .unwrap();

    let summary = |events: &[WatchEvent]| -> Vec<(WatchEventType, String, u64)> {
        events
            .iter()
            .map(|e| {
                (
                    e.event_type,
                    e.object.metadata().name.clone(),
                    e.resource_version,
                )
            })
            .collect()
    };
    let base = everything.resource_version;
    let pods = store.watch(&mut all_pods).unwrap();
    assert_eq!(
        summary(&pods),
        [
            (WatchEventType::Added, "a".to_string(), base + 1),
            (WatchEventType::Added, "b".to_string(), base + 3),
            (WatchEventType::Modified, "b".to_string(), base + 4),
            (WatchEventType::Deleted, "a".to_string(), base + 5),
        ]
    );
    assert_eq!(all_pods.resource_version, store.resource_version());
    assert_eq!(
        summary(&store.watch(&mut shop).unwrap()),
        [
            (WatchEventType::Added, "c".to_string(), base + 2),
            (WatchEventType::Added, "b".to_string(), base + 3),
            (WatchEventType::Modified, "b".to_string(), base + 4),
        ]
    );
    let all = store.watch(&mut everything).unwrap();
    assert_eq!(all.len(), 5);
    // Each event's object carries the version of its event.
    for e in &all {
        assert_eq!(
            e.object.metadata().resource_version,
            e.resource_version.to_string()
        );
    }
    // Nothing new: nothing reported, the cursor stays.
    assert!(store.watch(&mut all_pods).unwrap().is_empty());
    // The event's object is the stored one, not a copy.
    let stored = get(&store, Kind::Pod, "shop", "b");
    assert!(Arc::ptr_eq(&all[3].object, &stored));
}

#[test]
fn list_then_watch_misses_nothing() {
    let mut store = new_store();
    create(&mut store, &config_map("one", "default"));
    let (items, rv) = store
        .list(Kind::ConfigMap, &ListOptions::default())
        .unwrap();
    create(&mut store, &config_map("two", "default"));
    let mut cursor = WatchCursor::new(&[Kind::ConfigMap], rv);
    let events = store.watch(&mut cursor).unwrap();
    let mut seen: Vec<String> = items.iter().map(|o| o.metadata().name.clone()).collect();
    seen.extend(events.iter().map(|e| e.object.metadata().name.clone()));
    assert_eq!(seen, ["one", "two"]);
}

#[test]
fn a_cursor_older_than_the_history_must_relist() {
    let mut store = Store::new(StoreConfig {
        watch_history: 3,
        bootstrap: false,
        ..StoreConfig::default()
    });
    create_namespace(&mut store, "default");
    for i in 0..4 {
        create(&mut store, &config_map(&format!("cm-{i}"), "default"));
    }
    assert_eq!(store.resource_version(), 5);
    let mut old = WatchCursor::new(&[], 1);
    assert_eq!(
        store.watch(&mut old),
        Err(StoreError::ResourceVersionTooOld {
            requested: 1,
            oldest: 2
        })
    );
    assert_eq!(
        message(store.watch(&mut old)),
        "too old resource version: 1 (2)"
    );
    let mut recent = WatchCursor::new(&[], 2);
    assert_eq!(store.watch(&mut recent).unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// LimitRange
// ---------------------------------------------------------------------------------------------

const LIMIT_RANGE: &str = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: limits}\nspec:\n  limits:\n  \
    - type: Container\n    default: {cpu: 500m, memory: 256Mi}\n    defaultRequest: {cpu: 250m, memory: 128Mi}\n    \
    min: {cpu: 100m}\n    max: {cpu: '1', memory: 1Gi}\n    maxLimitRequestRatio: {cpu: '4'}\n  \
    - type: Pod\n    max: {memory: 1536Mi}\n";

#[test]
fn limit_range_defaults_fill_missing_requests_and_limits() {
    let mut store = new_store();
    create(&mut store, LIMIT_RANGE);
    let pod = create(
        &mut store,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx\n  \
         - name: side\n    image: busybox\n    resources: {requests: {cpu: 200m}, limits: {memory: 512Mi}}\n",
    );
    assert_eq!(
        field(&pod, "/spec/containers/0/resources"),
        json!({"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}})
    );
    // Pod defaulting first copied the memory limit into the request; LimitRanger fills the rest.
    assert_eq!(
        field(&pod, "/spec/containers/1/resources"),
        json!({"limits": {"cpu": "500m", "memory": "512Mi"}, "requests": {"cpu": "200m", "memory": "512Mi"}})
    );
    assert_eq!(
        field(&pod, "/metadata/annotations/kubernetes.io~1limit-ranger"),
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web; \
         cpu limit for container side"
    );
    // The QoS class is computed from the defaulted resources.
    assert_eq!(field(&pod, "/status/qosClass"), "Burstable");
}

#[test]
fn limit_range_bounds_are_forbidden_with_kubernetes_messages() {
    let mut store = new_store();
    create(&mut store, LIMIT_RANGE);
    let snap = snapshot(&store);
    let pod = |resources: &str| {
        parse(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    \
             resources: {resources}\n"
        ))
    };
    // The default limit (500m) also makes the ratio 10.
    assert_eq!(
        message(store.create(pod("{requests: {cpu: 50m}}"), t(1))),
        "pods \"web\" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, \
         cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000]"
    );
    assert_eq!(
        message(store.create(pod("{requests: {cpu: 50m}, limits: {cpu: 100m}}"), t(1))),
        "pods \"web\" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"
    );
    assert_eq!(
        message(store.create(pod("{requests: {cpu: 2}, limits: {cpu: 2}}"), t(1))),
        "pods \"web\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
    assert_eq!(
        message(store.create(pod("{limits: {cpu: '2'}}"), t(1))),
        "pods \"web\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
    assert_eq!(
        message(store.create(pod("{requests: {cpu: 200m}, limits: {cpu: '1'}}"), t(1))),
        "pods \"web\" is forbidden: cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000"
    );
    assert_eq!(
        message(store.create(pod("{limits: {cpu: 50m, memory: 2Gi}}"), t(1))),
        "pods \"web\" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, \
         maximum memory usage per Container is 1Gi, but limit is 2Gi, maximum memory usage per Pod is 1536Mi, \
         but limit is 2Gi]"
    );
    assert_eq!(snapshot(&store), snap);
    // Within bounds: admitted.
    store
        .create(pod("{requests: {cpu: 300m}, limits: {cpu: '1'}}"), t(1))
        .unwrap();
}

#[test]
fn limit_range_ratio_and_minimum_need_a_request_and_a_limit() {
    let mut store = new_store();
    create(
        &mut store,
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: strict}\nspec:\n  limits:\n  - type: Pod\n    \
         min: {memory: 64Mi}\n    maxLimitRequestRatio: {memory: '2'}\n",
    );
    let text = message(store.create(parse(&pod_yaml("web", "default")), t(1)));
    assert_eq!(
        text,
        "pods \"web\" is forbidden: [minimum memory usage per Pod is 64Mi.  No request is specified, \
         memory max limit to request ratio per Pod is 2, but no request is specified or request is 0]"
    );
    let only_request = pod_yaml("web", "default").replace(
        "image: nginx:1.27\n",
        "image: nginx:1.27\n    resources: {requests: {memory: 128Mi}}\n",
    );
    assert_eq!(
        message(store.create(parse(&only_request), t(1))),
        "pods \"web\" is forbidden: memory max limit to request ratio per Pod is 2, but no limit is specified or limit is 0"
    );
}

#[test]
fn limit_ranges_bound_claims() {
    let mut store = new_store();
    create(
        &mut store,
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: storage}\nspec:\n  limits:\n  - type: PersistentVolumeClaim\n    \
         min: {storage: 1Gi}\n    max: {storage: 10Gi}\n",
    );
    let claim = |size: &str| {
        parse(&format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: data}}\nspec:\n  accessModes: [ReadWriteOnce]\n  \
             resources: {{requests: {{storage: {size}}}}}\n"
        ))
    };
    assert_eq!(
        message(store.create(claim("500Mi"), t(1))),
        "persistentvolumeclaims \"data\" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
    );
    assert_eq!(
        message(store.create(claim("20Gi"), t(1))),
        "persistentvolumeclaims \"data\" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"
    );
    store.create(claim("5Gi"), t(1)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Priority
// ---------------------------------------------------------------------------------------------

fn priority_class(name: &str, value: i32, extra: &str) -> String {
    format!(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: {name}}}\nvalue: {value}\n{extra}"
    )
}

fn pod_with(name: &str, spec_lines: &str) -> Object {
    parse(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec_lines}  containers: [{{name: c, image: nginx}}]\n"
    ))
}

#[test]
fn priority_class_names_resolve_into_priority_and_preemption_policy() {
    let mut store = new_store();
    create(
        &mut store,
        &priority_class("batch", 100, "preemptionPolicy: Never\n"),
    );
    let pod = store
        .create(pod_with("job", "  priorityClassName: batch\n"), t(1))
        .unwrap();
    assert_eq!(field(&pod, "/spec/priority"), 100);
    assert_eq!(field(&pod, "/spec/preemptionPolicy"), "Never");
    let system = store
        .create(
            pod_with("dns", "  priorityClassName: system-cluster-critical\n"),
            t(1),
        )
        .unwrap();
    assert_eq!(field(&system, "/spec/priority"), 2_000_000_000);

    let snap = snapshot(&store);
    assert_eq!(
        message(store.create(pod_with("x", "  priorityClassName: nope\n"), t(1))),
        "pods \"x\" is forbidden: no PriorityClass with name nope was found"
    );
    assert_eq!(
        message(store.create(pod_with("x", "  priorityClassName: batch\n  priority: 5\n"), t(1))),
        "pods \"x\" is forbidden: the integer value of priority (5) must not be provided in pod spec; \
         priority admission controller computed 100 from the given PriorityClass name"
    );
    assert_eq!(
        message(store.create(pod_with("x", "  priorityClassName: batch\n  preemptionPolicy: PreemptLowerPriority\n"), t(1))),
        "pods \"x\" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided \
         in pod spec; priority admission controller computed Never from the given PriorityClass name"
    );
    // Without any class the computed policy is PreemptLowerPriority, and a pod may not say otherwise.
    assert_eq!(
        message(store.create(pod_with("x", "  preemptionPolicy: Never\n"), t(1))),
        "pods \"x\" is forbidden: the string value of PreemptionPolicy (Never) must not be provided \
         in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name"
    );
    assert_eq!(snapshot(&store), snap);
    // Stating the values the class gives is allowed.
    let same = store
        .create(
            pod_with(
                "ok",
                "  priorityClassName: batch\n  priority: 100\n  preemptionPolicy: Never\n",
            ),
            t(1),
        )
        .unwrap();
    assert_eq!(field(&same, "/spec/priority"), 100);
}

#[test]
fn the_global_default_class_applies_to_pods_without_a_class_and_is_unique() {
    let mut store = new_store();
    create(
        &mut store,
        &priority_class("normal", 50, "globalDefault: true\n"),
    );
    let pod = store.create(pod_with("web", ""), t(1)).unwrap();
    assert_eq!(field(&pod, "/spec/priorityClassName"), "normal");
    assert_eq!(field(&pod, "/spec/priority"), 50);
    let snap = snapshot(&store);
    assert_eq!(
        message(store.create(parse(&priority_class("other", 60, "globalDefault: true\n")), t(1))),
        "priorityclasses.scheduling.k8s.io \"other\" is forbidden: PriorityClass normal is already marked as default. \
         Only one default can exist"
    );
    create(&mut store, &priority_class("other", 60, ""));
    let promoted = parse(&priority_class("other", 60, "globalDefault: true\n"));
    assert_eq!(
        message(store.update(promoted, t(2))),
        "priorityclasses.scheduling.k8s.io \"other\" is forbidden: PriorityClass normal is already marked as default. \
         Only one default can exist"
    );
    assert_ne!(snapshot(&store).0, snap.0);
    // The default itself may be updated.
    store
        .update(
            parse(&priority_class(
                "normal",
                50,
                "globalDefault: true\ndescription: d\n",
            )),
            t(3),
        )
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// ResourceQuota
// ---------------------------------------------------------------------------------------------

fn quota(name: &str, namespace: &str, hard: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  hard: {hard}\n{extra}"
    )
}

#[test]
fn a_new_quota_counts_what_exists_and_charges_what_is_created() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    create(&mut store, &sized_pod("a", "shop", "250m", "64Mi"));
    create(&mut store, &config_map("c1", "shop"));
    create(&mut store, &config_map("elsewhere", "default"));
    let q = create(
        &mut store,
        &quota(
            "compute",
            "shop",
            "{pods: '3', requests.cpu: '1', limits.memory: 1Gi, configmaps: '5', count/configmaps: '5', resourcequotas: '2'}",
            "",
        ),
    );
    assert_eq!(
        field(&q, "/status/hard"),
        json!({"configmaps": "5", "count/configmaps": "5", "limits.memory": "1Gi", "pods": "3", "requests.cpu": "1", "resourcequotas": "2"})
    );
    assert_eq!(
        field(&q, "/status/used"),
        json!({"configmaps": "1", "count/configmaps": "1", "limits.memory": "64Mi", "pods": "1", "requests.cpu": "250m", "resourcequotas": "1"})
    );
    // A create is charged in the same store operation, the quota written just before it.
    let rv = store.resource_version();
    create(&mut store, &sized_pod("b", "shop", "500m", "128Mi"));
    let events = events_since(&store, rv);
    let kinds: Vec<(WatchEventType, Kind)> = events
        .iter()
        .map(|e| (e.event_type, e.object.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            (WatchEventType::Modified, Kind::ResourceQuota),
            (WatchEventType::Added, Kind::Pod)
        ]
    );
    let used = quota_used(&store, "shop", "compute");
    assert_eq!(used["pods"], "2");
    assert_eq!(used["requests.cpu"], "750m");
    assert_eq!(used["limits.memory"], "192Mi");
    // Objects outside the quota's namespace or resources do not touch it.
    let rv = store.resource_version();
    create(&mut store, &config_map("free", "default"));
    create(
        &mut store,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\n",
    );
    assert_eq!(store.resource_version(), rv + 2);
}

#[test]
fn a_create_over_quota_is_forbidden_and_changes_nothing() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    create(
        &mut store,
        &quota(
            "compute",
            "shop",
            "{pods: '2', requests.cpu: '1', requests.memory: 1Gi}",
            "",
        ),
    );
    create(&mut store, &sized_pod("a", "shop", "600m", "256Mi"));
    let snap = snapshot(&store);
    assert_eq!(
        message(store.create(parse(&sized_pod("b", "shop", "500m", "256Mi")), t(1))),
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=600m, \
         limited: requests.cpu=1"
    );
    assert_eq!(
        message(store.create(parse(&sized_pod("b", "shop", "2", "2Gi")), t(1))),
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=2,requests.memory=2Gi, \
         used: requests.cpu=600m,requests.memory=256Mi, limited: requests.cpu=1,requests.memory=1Gi"
    );
    assert_eq!(snapshot(&store), snap);
    create(&mut store, &sized_pod("b", "shop", "400m", "256Mi"));
    assert_eq!(
        message(store.create(parse(&sized_pod("c", "shop", "0", "0")), t(1))),
        "pods \"c\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"
    );
}

#[test]
fn a_compute_quota_requires_every_container_to_state_its_resources() {
    let mut store = new_store();
    create(
        &mut store,
        &quota(
            "compute",
            "default",
            "{requests.cpu: '4', limits.memory: 4Gi, pods: '10'}",
            "",
        ),
    );
    let snap = snapshot(&store);
    let pod = parse(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  initContainers: [{name: init, image: busybox, \
         resources: {requests: {cpu: 100m}}}]\n  containers:\n  - {name: web, image: nginx}\n  \
         - {name: app, image: app, resources: {limits: {memory: 1Gi}}}\n",
    );
    assert_eq!(
        message(store.create(pod, t(1))),
        "pods \"web\" is forbidden: failed quota: compute: must specify limits.memory for: init,web; \
         requests.cpu for: app,web"
    );
    assert_eq!(snapshot(&store), snap);
    // A quota of pods only does not oblige containers to anything.
    let mut other = new_store();
    create(&mut other, &quota("count", "default", "{pods: '10'}", ""));
    create(&mut other, &pod_yaml("web", "default"));
}

#[test]
fn quota_usage_is_released_on_deletion_and_when_a_pod_finishes() {
    let mut store = new_store();
    create(
        &mut store,
        &quota(
            "compute",
            "default",
            "{pods: '5', requests.cpu: '2', count/pods: '5'}",
            "",
        ),
    );
    create(&mut store, &sized_pod("a", "default", "500m", "64Mi"));
    create(&mut store, &sized_pod("b", "default", "700m", "64Mi"));
    assert_eq!(
        quota_used(&store, "default", "compute"),
        json!({"count/pods": "2", "pods": "2", "requests.cpu": "1200m"})
    );
    store
        .delete(Kind::Pod, "default", "a", &DeleteOptions::default(), t(1))
        .unwrap();
    assert_eq!(
        quota_used(&store, "default", "compute"),
        json!({"count/pods": "1", "pods": "1", "requests.cpu": "700m"})
    );
    // A finished pod keeps its object count but no longer its compute resources.
    let done = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus: {phase: Failed}\n");
    store.update_status(done, t(2)).unwrap();
    assert_eq!(
        quota_used(&store, "default", "compute"),
        json!({"count/pods": "1", "pods": "0", "requests.cpu": "0"})
    );
    store
        .delete(Kind::Pod, "default", "b", &DeleteOptions::default(), t(3))
        .unwrap();
    assert_eq!(
        quota_used(&store, "default", "compute"),
        json!({"count/pods": "0", "pods": "0", "requests.cpu": "0"})
    );
    // A pod that is only marked for deletion still counts.
    create(
        &mut store,
        &sized_pod("c", "default", "100m", "64Mi")
            .replace("spec:\n", "spec:\n  nodeName: node-1\n"),
    );
    store
        .delete(Kind::Pod, "default", "c", &DeleteOptions::default(), t(4))
        .unwrap();
    assert_eq!(quota_used(&store, "default", "compute")["pods"], "1");
}

#[test]
fn scoped_quotas_count_only_the_pods_they_select() {
    let mut store = new_store();
    create(&mut store, &priority_class("high", 1000, ""));
    create(
        &mut store,
        &quota(
            "best-effort",
            "default",
            "{pods: '10'}",
            "  scopes: [BestEffort]\n",
        ),
    );
    create(
        &mut store,
        &quota(
            "not-best-effort",
            "default",
            "{pods: '10'}",
            "  scopes: [NotBestEffort]\n",
        ),
    );
    create(
        &mut store,
        &quota(
            "terminating",
            "default",
            "{pods: '10'}",
            "  scopes: [Terminating]\n",
        ),
    );
    create(
        &mut store,
        &quota(
            "high-priority",
            "default",
            "{pods: '10', requests.cpu: '10'}",
            "  scopeSelector:\n    matchExpressions:\n    - {scopeName: PriorityClass, operator: In, values: [high]}\n",
        ),
    );
    create(&mut store, &pod_yaml("plain", "default"));
    create(&mut store, &sized_pod("sized", "default", "100m", "64Mi"));
    let deadline =
        pod_yaml("deadline", "default").replace("spec:\n", "spec:\n  activeDeadlineSeconds: 60\n");
    create(&mut store, &deadline);
    let high = sized_pod("high", "default", "200m", "64Mi")
        .replace("spec:\n", "spec:\n  priorityClassName: high\n");
    create(&mut store, &high);
    let pods = |store: &Store, name: &str| quota_used(store, "default", name)["pods"].clone();
    assert_eq!(pods(&store, "best-effort"), "2", "plain and deadline");
    assert_eq!(pods(&store, "not-best-effort"), "2", "sized and high");
    assert_eq!(pods(&store, "terminating"), "1", "deadline");
    assert_eq!(pods(&store, "high-priority"), "1", "high");
    assert_eq!(
        quota_used(&store, "default", "high-priority")["requests.cpu"],
        "200m"
    );
    // Setting activeDeadlineSeconds moves a pod into the Terminating scope.
    let with_deadline =
        pod_yaml("plain", "default").replace("spec:\n", "spec:\n  activeDeadlineSeconds: 30\n");
    store.update(parse(&with_deadline), t(2)).unwrap();
    assert_eq!(pods(&store, "terminating"), "2");
}

#[test]
fn object_count_quotas_use_the_group_qualified_resource() {
    let mut store = new_store();
    create(
        &mut store,
        &quota(
            "objects",
            "default",
            "{count/deployments.apps: '1', count/resourcequotas: '2'}",
            "",
        ),
    );
    create(&mut store, &deployment(1, "web"));
    assert_eq!(
        quota_used(&store, "default", "objects"),
        json!({"count/deployments.apps": "1", "count/resourcequotas": "1"})
    );
    let second = deployment(1, "web").replace("{name: web,", "{name: api,");
    assert_eq!(
        message(store.create(parse(&second), t(1))),
        "deployments.apps \"api\" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, \
         used: count/deployments.apps=1, limited: count/deployments.apps=1"
    );
    // A second quota is counted by the first, and released when it goes.
    create(&mut store, &quota("more", "default", "{pods: '1'}", ""));
    assert_eq!(
        quota_used(&store, "default", "objects")["count/resourcequotas"],
        "2"
    );
    store
        .delete(
            Kind::ResourceQuota,
            "default",
            "more",
            &DeleteOptions::default(),
            t(2),
        )
        .unwrap();
    assert_eq!(
        quota_used(&store, "default", "objects")["count/resourcequotas"],
        "1"
    );
}

#[test]
fn a_service_update_is_checked_against_its_quota() {
    let mut store = new_store();
    create(
        &mut store,
        &quota(
            "lb",
            "default",
            "{services.loadbalancers: '0', services: '5'}",
            "",
        ),
    );
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n";
    create(&mut store, svc);
    let snap = snapshot(&store);
    let lb = svc.replace("spec:\n", "spec:\n  type: LoadBalancer\n");
    assert_eq!(
        message(store.update(parse(&lb), t(2))),
        "services \"web\" is forbidden: exceeded quota: lb, requested: services.loadbalancers=1, \
         used: services.loadbalancers=0, limited: services.loadbalancers=0"
    );
    assert_eq!(snapshot(&store), snap);
}

#[test]
fn every_rejection_leaves_the_store_as_it_was() {
    let mut store = new_store();
    create_namespace(&mut store, "shop");
    create(
        &mut store,
        &quota("q", "shop", "{pods: '1', configmaps: '1'}", ""),
    );
    create(&mut store, &config_map("cm", "shop"));
    create(&mut store, &pod_yaml("web", "shop"));
    let snap = snapshot(&store);
    let used = quota_used(&store, "shop", "q");
    let attempts: Vec<Result<Arc<Object>, StoreError>> = vec![
        store.create(parse(&config_map("cm2", "shop")), t(1)),
        store.create(parse(&pod_yaml("web2", "shop")), t(1)),
        store.create(parse(&config_map("cm", "shop")), t(1)),
        store.create(parse(&pod_yaml("x", "nowhere")), t(1)),
        store.update(with_resource_version(parse(&config_map("cm", "shop")), "1"), t(1)),
        store.update(parse(&config_map("ghost", "shop")), t(1)),
        store.update(parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: shop}\ndata: {'a b': c}\n"), t(1)),
        store.update_status(with_resource_version(parse(&pod_yaml("web", "shop")), "2"), t(1)),
        store.patch(Kind::ConfigMap, "shop", "cm", &json!({"metadata": {"name": "x"}}), t(1)),
        store.patch(Kind::ConfigMap, "shop", "cm", &json!({"data": {"bad key": "x"}}), t(1)),
    ];
    for attempt in &attempts {
        assert!(attempt.is_err(), "{attempt:?}");
    }
    let delete = store.delete(
        Kind::ConfigMap,
        "shop",
        "cm",
        &DeleteOptions {
            precondition_resource_version: Some("1".into()),
            ..DeleteOptions::default()
        },
        t(1),
    );
    assert!(delete.is_err());
    assert_eq!(snapshot(&store), snap);
    assert_eq!(quota_used(&store, "shop", "q"), used);
}

// ---------------------------------------------------------------------------------------------
// Binding (pods/binding)
// ---------------------------------------------------------------------------------------------

#[test]
fn binding_sets_the_node_and_pod_scheduled_in_one_write() {
    let mut store = new_store();
    create(&mut store, &pod_yaml("web", "default"));
    // The scheduler left PodScheduled=False; the binding replaces it.
    let Object::Pod(mut pod) = (*get(&store, Kind::Pod, "default", "web")).clone() else {
        panic!("a pod");
    };
    pod.status
        .conditions
        .push(flotilla_model::api::PodCondition {
            r#type: "PodScheduled".into(),
            status: flotilla_model::api::ConditionStatus::False,
            reason: "Unschedulable".into(),
            message: "0/1 nodes are available".into(),
            ..Default::default()
        });
    store.update_status(pod.into(), t(101)).expect("status");
    let rv = store.resource_version();
    let bound = store.bind("default", "web", "n1", t(102)).expect("bound");
    assert_eq!(field(&bound, "/spec/nodeName"), json!("n1"));
    assert_eq!(
        field(&bound, "/status/conditions"),
        json!([{"type": "PodScheduled", "status": "True", "lastTransitionTime": "1970-01-01T00:01:42Z"}])
    );
    let events = events_since(&store, rv);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, WatchEventType::Modified);
    assert_eq!(store.resource_version(), rv + 1);

    // Bound already: Conflict, as the API server words it.
    assert_eq!(
        message(store.bind("default", "web", "n2", t(103))),
        "Operation cannot be fulfilled on pods \"web\": pod web is already assigned to node \"n1\""
    );
    assert_eq!(
        message(store.bind("default", "nope", "n1", t(103))),
        "pods \"nope\" not found"
    );
}

#[test]
fn a_pod_being_deleted_cannot_be_bound() {
    let mut store = new_store();
    create(
        &mut store,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\n  finalizers: [example.com/hold]\n\
         spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n",
    );
    store
        .delete(
            Kind::Pod,
            "default",
            "web",
            &DeleteOptions::default(),
            t(101),
        )
        .expect("deletion starts");
    assert_eq!(
        message(store.bind("default", "web", "n1", t(102))),
        "Operation cannot be fulfilled on pods \"web\": pod web is being deleted, cannot be assigned to a host"
    );
}
