//! NodePorts: rejects nodes where a host port the pod asks for is taken (kube-scheduler v1.34,
//! `nodeports/node_ports.go` and `framework/types.go` `HostPortInfo.CheckConflict`).
//!
//! The pod's host ports are those of its app containers and of its sidecars (init containers
//! with `restartPolicy: Always`, kubernetes/kubernetes#132040) with `hostPort > 0`; an empty host
//! IP means `0.0.0.0` and an empty protocol TCP. A wanted (IP, protocol, port) conflicts with a
//! port in use on the node with the same protocol and port when either IP is `0.0.0.0` or the IPs
//! are equal. A pod without host ports makes PreFilter return Skip. Rejections are
//! `Unschedulable` with `node(s) didn't have free ports for the requested pod ports` (evicting
//! the pod holding the port frees it).

use flotilla_model::api::{ContainerRestartPolicy, Pod};

use crate::framework::{
    CycleState, FilterPlugin, Plugin, PreFilterPlugin, PreFilterResult, Status,
};
use crate::node_info::{HostPort, NodeInfo, PodInfo};
use crate::snapshot::Snapshot;

/// The plugin's name in a KubeSchedulerConfiguration.
pub const NAME: &str = "NodePorts";
/// The reason of a rejection (`ErrReason`).
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";
/// The host IP that binds every address.
pub const BIND_ALL_HOST_IP: &str = "0.0.0.0";

/// The host ports a pod asks for: its sidecars' and app containers' ports with `hostPort > 0`,
/// sanitized (kube-scheduler's `schedutil.GetHostPorts`).
pub fn pod_host_ports(pod: &Pod) -> Vec<HostPort> {
    let sidecars = pod
        .spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy == Some(ContainerRestartPolicy::Always));
    sidecars
        .chain(&pod.spec.containers)
        .flat_map(|c| &c.ports)
        .filter(|p| p.host_port > 0)
        .map(|p| HostPort {
            ip: if p.host_ip.is_empty() {
                BIND_ALL_HOST_IP.to_string()
            } else {
                p.host_ip.clone()
            },
            protocol: p.protocol.unwrap_or_default(),
            port: p.host_port,
        })
        .collect()
}

/// Whether `want` conflicts with a port in `used` (`HostPortInfo.CheckConflict`).
pub fn conflicts(used: &[HostPort], want: &HostPort) -> bool {
    let want_all = want.ip == BIND_ALL_HOST_IP;
    used.iter().any(|u| {
        u.port == want.port
            && u.protocol == want.protocol
            && (want_all || u.ip == BIND_ALL_HOST_IP || u.ip == want.ip)
    })
}

/// Whether all of `wanted` are free on `node` (kube-scheduler's `fitsPorts`).
pub fn fits_ports(wanted: &[HostPort], node: &NodeInfo) -> bool {
    !wanted.iter().any(|w| conflicts(&node.used_ports, w))
}

/// What PreFilter computes: the pod's host ports.
#[derive(Clone, Debug)]
struct PreFilterState(Vec<HostPort>);

/// The NodePorts plugin (PreFilter, Filter). It has no args.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodePorts;

impl NodePorts {
    /// The plugin (it has no args).
    pub fn new() -> NodePorts {
        NodePorts
    }
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    /// Reads only the pod's spec and the node's own state (see [`Plugin::is_node_local`]).
    fn is_node_local(&self) -> bool {
        true
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        _snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let ports = pod_host_ports(&pod.pod);
        if ports.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        state.write(NAME, PreFilterState(ports));
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(PreFilterState(wanted)) = state.read::<PreFilterState>(NAME) else {
            return Status::error(format!(
                "error reading \"PreFilter{NAME}\" from cycleState: not found"
            ));
        };
        if fits_ports(wanted, node) {
            Status::success()
        } else {
            Status::unschedulable(ERR_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use flotilla_model::api::Protocol;
    use serde_json::{json, Value};

    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod};

    /// `newPod(host, "PROTO/IP/PORT"...)`: one container with those host ports.
    fn port_pod(ports: &[&str]) -> Arc<Pod> {
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| {
                let parts: Vec<&str> = p.split('/').collect();
                json!({"protocol": parts[0], "hostIP": parts[1], "hostPort": parts[2].parse::<i32>().unwrap(), "containerPort": 80})
            })
            .collect();
        pod(
            json!({"metadata": {"name": "p"}, "spec": {"nodeName": "m1", "containers": [{"name": "c", "ports": ports}]}}),
        )
    }

    fn node_with(existing: &[&str]) -> NodeInfo {
        let mut info = NodeInfo::new(node(json!({"metadata": {"name": "m1"}})));
        info.add_pod(PodInfo::new(port_pod(existing)));
        info
    }

    fn run(p: &Arc<Pod>, info: &NodeInfo) -> (Status, Option<Status>) {
        let plugin = NodePorts::new();
        let pi = PodInfo::new(p.clone());
        let mut state = CycleState::new();
        let (_, pre) = plugin.pre_filter(&mut state, &pi, &Snapshot::default());
        if pre.code == Code::Skip {
            return (pre, None);
        }
        let status = plugin.filter(&state, &pi, info);
        (pre, Some(status))
    }

    #[test]
    fn node_ports_table() {
        // TestNodePorts (node_ports_test.go), all 13 cases.
        let empty = pod(json!({"metadata": {"name": "p"}, "spec": {}}));
        let (pre, filter) = run(
            &empty,
            &NodeInfo::new(node(json!({"metadata": {"name": "m1"}}))),
        );
        assert_eq!((pre.code, filter), (Code::Skip, None), "skip filter");

        let conflict = Some(Status::unschedulable(ERR_REASON));
        let ok = Some(Status::success());
        // (name, the pod's ports, the ports in use on the node, the Filter's verdict)
        type Case<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, Option<Status>);
        let cases: Vec<Case<'_>> = vec![
            (
                "other port",
                vec!["UDP/127.0.0.1/8080"],
                vec!["UDP/127.0.0.1/9090"],
                ok.clone(),
            ),
            (
                "same udp port",
                vec!["UDP/127.0.0.1/8080"],
                vec!["UDP/127.0.0.1/8080"],
                conflict.clone(),
            ),
            (
                "same tcp port",
                vec!["TCP/127.0.0.1/8080"],
                vec!["TCP/127.0.0.1/8080"],
                conflict.clone(),
            ),
            (
                "different host ip",
                vec!["TCP/127.0.0.1/8080"],
                vec!["TCP/127.0.0.2/8080"],
                ok.clone(),
            ),
            (
                "different protocol",
                vec!["UDP/127.0.0.1/8080"],
                vec!["TCP/127.0.0.1/8080"],
                ok.clone(),
            ),
            (
                "second udp port conflict",
                vec!["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"],
                vec!["UDP/127.0.0.1/8080"],
                conflict.clone(),
            ),
            (
                "first tcp port conflict",
                vec!["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"],
                vec!["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"],
                conflict.clone(),
            ),
            (
                "first tcp port conflict due to 0.0.0.0 hostIP",
                vec!["TCP/0.0.0.0/8001"],
                vec!["TCP/127.0.0.1/8001"],
                conflict.clone(),
            ),
            (
                "TCP hostPort conflict due to 0.0.0.0 hostIP",
                vec!["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"],
                vec!["TCP/127.0.0.1/8001"],
                conflict.clone(),
            ),
            (
                "second tcp port conflict to 0.0.0.0 hostIP",
                vec!["TCP/127.0.0.1/8001"],
                vec!["TCP/0.0.0.0/8001"],
                conflict.clone(),
            ),
            (
                "second different protocol",
                vec!["UDP/127.0.0.1/8001"],
                vec!["TCP/0.0.0.0/8001"],
                ok.clone(),
            ),
            (
                "UDP hostPort conflict due to 0.0.0.0 hostIP",
                vec!["UDP/127.0.0.1/8001"],
                vec!["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"],
                conflict.clone(),
            ),
        ];
        for (name, want, existing, expect) in cases {
            let (pre, filter) = run(&port_pod(&want), &node_with(&existing));
            assert!(pre.is_success(), "{name}: prefilter {pre}");
            assert_eq!(filter, expect, "{name}");
        }
    }

    #[test]
    fn filter_without_pre_filter_is_an_error() {
        // TestPreFilterDisabled.
        let info = NodeInfo::new(node(json!({"metadata": {"name": "m1"}})));
        let p = PodInfo::new(pod(json!({"metadata": {"name": "p"}, "spec": {}})));
        assert_eq!(
            NodePorts::new().filter(&CycleState::new(), &p, &info).code,
            Code::Error
        );
    }

    #[test]
    fn container_host_ports() {
        // TestGetContainerPorts: ports without a host port are left out; container order is kept.
        let ports = |list: &[(i32, i32)]| -> Vec<Value> {
            list.iter()
                .map(|(c, h)| json!({"containerPort": c, "hostPort": h, "protocol": "TCP"}))
                .collect()
        };
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "ports": ports(&[(8001, 8001), (8002, 8002)])},
            {"name": "b", "ports": ports(&[(8003, 8003), (8004, 8004)])},
            {"name": "c", "ports": ports(&[(8005, 0)])},
        ]}}));
        let got: Vec<i32> = pod_host_ports(&p).iter().map(|h| h.port).collect();
        assert_eq!(got, vec![8001, 8002, 8003, 8004]);
        assert!(pod_host_ports(&p)
            .iter()
            .all(|h| h.ip == BIND_ALL_HOST_IP && h.protocol == Protocol::Tcp));
    }

    #[test]
    fn sidecar_host_ports_count() {
        // kubernetes/kubernetes#132040: a sidecar's host port is the pod's too; a plain init
        // container's is not.
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [
                {"name": "init", "ports": [{"containerPort": 1, "hostPort": 9001}]},
                {"name": "sidecar", "restartPolicy": "Always", "ports": [{"containerPort": 1, "hostPort": 9002}]},
            ],
            "containers": [{"name": "c"}],
        }}));
        let got: Vec<i32> = pod_host_ports(&p).iter().map(|h| h.port).collect();
        assert_eq!(got, vec![9002]);
    }
}
