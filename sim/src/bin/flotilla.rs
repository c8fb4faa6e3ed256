//! The `flotilla` command-line program.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;
use std::path::Path;

use clap::{Parser, Subcommand, ValueEnum};
use flotilla_sim::engine::Simulation;
use flotilla_sim::manifests::load_paths;
use flotilla_sim::metrics::EventLog;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The program's allocator. A simulation makes and frees millions of small objects (pods,
/// statuses, events); mimalloc serves them in a fraction of the time the system allocator
/// takes. The libraries leave the choice to the program that embeds them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flotilla: a Kubernetes-style orchestrator, modelled faithfully and made fast.
#[derive(Parser, Debug)]
#[command(name = "flotilla", version, about)]
struct Cli {
    /// The single-host API socket (`host`, and the commands that talk to a host).
    #[arg(long, global = true, default_value = "/run/flotilla/host.sock")]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a seeded simulation: a scenario file, or the built-in default scenario (1,000 nodes
    /// in three zones, Deployments with a rolling update, a stream of batch Jobs). Prints a
    /// summary and writes summary.json, metrics.csv and SVG plots (allocation, pending pods,
    /// scheduling and startup latency CDFs) to the output directory, and events.jsonl with
    /// --events.
    Run {
        /// A scenario file (`apiVersion: sim.flotilla.io/v1`, `kind: Scenario`), or the name of
        /// a bundled scenario (`default`, `scale`) when no such file exists.
        scenario: Option<PathBuf>,
        /// The seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the outputs.
        #[arg(long, default_value = "flotilla-out")]
        out: PathBuf,
        /// Also write events.jsonl: every store change and every cluster event, one JSON
        /// object a line.
        #[arg(long)]
        events: bool,
        /// PATH=VALUE: edit the scenario before it is checked, as `flotilla sweep --set`
        /// does (to reproduce one run of a sweep).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
    },
    /// Run a scenario for many seeds, under one or more configurations, in parallel; write
    /// sweep.csv (one row per run) and sweep_summary.csv, and print each metric's mean and 95%
    /// confidence interval per configuration, with the paired difference from the first.
    ///
    /// Example: `flotilla sweep s.yaml --seeds 1..20 --set spec.duration=10m --config base
    /// --config big:spec.nodePools[0].count=200`
    Sweep {
        /// A scenario file, or a bundled scenario's name (`default`, `scale`); default: the
        /// built-in default scenario.
        scenario: Option<PathBuf>,
        /// The seeds: A..B (both included), A,B,C or A.
        #[arg(long, default_value = "1..10")]
        seeds: String,
        /// PATH=VALUE: edit the scenario before it is checked, for every configuration
        /// (`spec.nodePools[0].count=200`; `@FILE` reads the value from a file).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// NAME:PATH=VALUE adds an edit to configuration NAME (repeat for several edits);
        /// NAME alone declares a configuration without edits. Every configuration runs the
        /// same seeds (common random numbers).
        #[arg(long = "config", value_name = "NAME[:PATH=VALUE]")]
        configs: Vec<String>,
        /// I/N: run only the seeds at positions I, I+N, I+2N, ... of the list (from 0), and
        /// write sweep-I-of-N.csv; `flotilla sweep-report` combines the shards.
        #[arg(long)]
        shard: Option<String>,
        /// Runs at once (default: rayon's, the number of CPUs or RAYON_NUM_THREADS).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where to write the CSV files.
        #[arg(long, default_value = "flotilla-sweep")]
        out: PathBuf,
    },
    /// Combine sweep CSV files (the shards of a sweep) and print each metric's mean and 95%
    /// confidence interval per configuration; writes sweep_summary.csv with --out.
    SweepReport {
        /// sweep.csv or sweep-I-of-N.csv files.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Where to write sweep_summary.csv.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check Kubernetes manifests as the API server would (defaults, then validation), and list
    /// the objects they hold. Exits with 1 when any manifest is invalid.
    Validate {
        /// Manifest files or directories; `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Also read the subdirectories of directories.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Explain how the scheduler would place one unbound pod among the Nodes in the manifests
    /// (Pods with spec.nodeName are already running there): each node's filter verdict, each
    /// score plugin's normalized score, the weighted total and the choice.
    Explain {
        /// Manifest files or directories with Nodes and Pods; `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Also read the subdirectories of directories.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// The pod to place: NAMESPACE/NAME, or NAME in the default namespace.
        #[arg(long)]
        pod: String,
        /// A KubeSchedulerConfiguration file; without it, kube-scheduler's default profile.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed of the tie-breaking random stream.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Reproduce a published study by driving the scheduler framework directly
    /// (`flotilla study fgd`).
    Study {
        #[command(subcommand)]
        study: flotilla_sim::study::StudyCommand,
    },
    /// Single-host mode: run the control plane and one node on this machine (root), pods as
    /// real processes, serving the API on --socket for the commands below. Stops every pod
    /// on SIGINT/SIGTERM; the objects persist in --data-dir for the next start.
    Host {
        /// Where the cluster's objects are persisted.
        #[arg(long, default_value = "/var/lib/flotilla/host")]
        data_dir: PathBuf,
        /// The runtime's state (pod directories, logs).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The image store.
        #[arg(long)]
        images: Option<PathBuf>,
        /// The node's name (default: this machine's hostname).
        #[arg(long)]
        node_name: Option<String>,
        /// The seed of the cluster's random streams.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Open the socket to this group (name or gid; mode 0660): its members may connect,
        /// and RBAC alone decides what they may do. Without it only root may connect.
        #[arg(long)]
        socket_group: Option<String>,
        /// Seconds between two readings of the pods' CPU and memory use for the HPA (the
        /// metrics server's resolution).
        #[arg(long, default_value_t = 15)]
        metrics_interval: u64,
    },
    /// Create or update objects from manifest files (a running `flotilla host`).
    Apply {
        /// Manifest files or directories; `-` reads standard input.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Also read the subdirectories of directories.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// The namespace of objects that name none.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// List objects as kubectl does (`get pods`, `get deploy web -o yaml`, `get svc -A`).
    Get {
        /// The resource type (`pods`, `po`, `deployments`, `svc`, …) or TYPE/NAME.
        resource: String,
        /// Names.
        names: Vec<String>,
        /// The namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// A label selector (`app=web,tier!=db`).
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// `wide`, `yaml`, `json` or `name`.
        #[arg(short = 'o', long, default_value = "")]
        output: String,
    },
    /// Show an object in detail, with its events.
    Describe {
        /// The resource type or TYPE/NAME.
        resource: String,
        /// Names (default: every object of the type in the namespace).
        names: Vec<String>,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// Delete objects by type and name, or those of manifest files.
    Delete {
        /// The resource type or TYPE/NAME (omit with -f).
        resource: Option<String>,
        /// Names.
        names: Vec<String>,
        /// Delete the objects of these manifest files.
        #[arg(short = 'f', long = "filename", num_args = 1..)]
        files: Vec<PathBuf>,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Seconds a pod gets to stop (0: at once).
        #[arg(long)]
        grace_period: Option<i64>,
    },
    /// Print a container's log.
    Logs {
        /// The pod (or pod/NAME).
        pod: String,
        /// The container (default: the pod's only one).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The previous run's log.
        #[arg(short = 'p', long)]
        previous: bool,
        /// Keep streaming while the container runs.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Run a command in a running container: `flotilla exec web-1 -- cat /etc/hosts`.
    Exec {
        /// The pod (or pod/NAME).
        pod: String,
        /// The container (default: the pod's only one).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Set the replica count of a Deployment, ReplicaSet or StatefulSet.
    Scale {
        /// TYPE/NAME (`deployment/web`) or TYPE.
        target: String,
        /// NAME when TARGET is a type alone.
        name: Option<String>,
        /// The new count.
        #[arg(long)]
        replicas: i32,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// The local image store that `flotilla host` runs containers from: `import`, `ls`, `rm`.
    Image {
        #[command(subcommand)]
        action: ImageAction,
        /// The image store.
        #[arg(long, global = true, default_value = "/var/lib/flotilla/images")]
        images: PathBuf,
    },
    /// Inspect authorization: `flotilla auth can-i create deployments -n team-a`.
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Manage a Deployment's rollout: `status`, `undo`, `history`.
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
    },
}

/// `flotilla auth …`.
#[derive(Subcommand, Debug)]
enum AuthAction {
    /// Whether an action is allowed: prints `yes` (exit 0) or `no` (exit 1).
    CanI {
        /// The verb (`get`, `list`, `create`, `update`, `patch`, `delete`, `*`, …).
        verb: String,
        /// The resource (`pods`, `deployments.apps`, `pods/log`, `*`), or TYPE/NAME.
        resource: String,
        /// The object's name.
        name: Option<String>,
        /// The namespace (default: `default`).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// In every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Ask for this user instead (needs the `impersonate` verb on users).
        #[arg(long = "as")]
        as_user: Option<String>,
        /// With --as: a group of that user (repeat for several).
        #[arg(long = "as-group")]
        as_groups: Vec<String>,
    },
}

/// `flotilla image …`.
#[derive(Subcommand, Debug)]
enum ImageAction {
    /// Import an image as NAME:TAG (the tag defaults to `latest`): an OCI image layout (a directory or a tar, plain, gzip
    /// or zstd; the manifest for this host's platform), a `docker save` archive, or a root
    /// filesystem directory or tar. Every blob is checked against its digest.
    Import {
        /// The OCI layout, docker archive, or root filesystem directory or tar file.
        source: PathBuf,
        /// The image's reference (`busybox:1.36`). When the source holds several images, its
        /// tag picks the one that `org.opencontainers.image.ref.name` (or `RepoTags`) names.
        reference: String,
    },
    /// List the images.
    Ls,
    /// Remove an image.
    Rm {
        /// The image's reference.
        reference: String,
    },
}

fn image(action: ImageAction, images: &Path) -> ExitCode {
    use flotilla_runtime_linux::image::{ImageConfig, ImageStore};
    let store = ImageStore::new(images);
    let result = match action {
        ImageAction::Import { source, reference } => store
            .import(&source, &reference, ImageConfig::default())
            .map(|image| println!("{} imported ({} bytes)", image.reference, image.config.size)),
        ImageAction::Ls => {
            println!("{:<40} SIZE", "IMAGE");
            for image in store.list() {
                println!("{:<40} {}", image.reference, image.config.size);
            }
            Ok(())
        }
        ImageAction::Rm { reference } => store
            .remove(&reference)
            .map(|()| println!("{reference} removed")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `flotilla rollout …`.
#[derive(Subcommand, Debug)]
enum RolloutAction {
    /// Wait until the rollout is complete, printing its progress.
    Status {
        /// `deployment/NAME`.
        target: String,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Give up after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Go back to the previous revision (or --to-revision).
    Undo {
        /// `deployment/NAME`.
        target: String,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// The revision to go back to.
        #[arg(long)]
        to_revision: Option<i64>,
    },
    /// List the revisions.
    History {
        /// `deployment/NAME`.
        target: String,
        /// The namespace.
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A table of objects, then warnings and errors.
    Table,
    /// One JSON document.
    Json,
}

fn main() -> ExitCode {
    // `flotilla host` runs pods through helper processes that re-execute this binary.
    flotilla_runtime_linux::run_helper_if_requested();
    let cli = Cli::parse();
    let socket = cli.socket;
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            events,
            sets,
        } => run(scenario.as_deref(), seed, &out, events, &sets),
        Command::Sweep {
            scenario,
            seeds,
            sets,
            configs,
            shard,
            jobs,
            out,
        } => sweep(SweepArgs {
            scenario: scenario.as_deref(),
            seeds: &seeds,
            sets: &sets,
            configs: &configs,
            shard: shard.as_deref(),
            jobs,
            out: &out,
        }),
        Command::SweepReport { files, out } => sweep_report(&files, out.as_deref()),
        Command::Validate {
            files,
            recursive,
            output,
        } => validate(&files, recursive, output),
        Command::Explain {
            files,
            recursive,
            pod,
            config,
            seed,
            output,
        } => explain(&files, recursive, &pod, config.as_deref(), seed, output),
        Command::Study { study } => flotilla_sim::study::main(study),
        Command::Host {
            data_dir,
            state_dir,
            images,
            node_name,
            seed,
            socket_group,
            metrics_interval,
        } => host(HostArgs {
            socket,
            data_dir,
            state_dir,
            images,
            node_name,
            seed,
            socket_group,
            metrics_interval,
        }),
        Command::Image { action, images } => image(action, &images),
        other => client(&socket, other),
    }
}

struct HostArgs {
    socket: PathBuf,
    data_dir: PathBuf,
    state_dir: Option<PathBuf>,
    images: Option<PathBuf>,
    node_name: Option<String>,
    seed: u64,
    socket_group: Option<String>,
    metrics_interval: u64,
}

fn host(args: HostArgs) -> ExitCode {
    use flotilla_runtime_linux::host::driver::{Host, HostConfig};
    let node_name = args.node_name.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node-1".into())
    });
    let mut config = HostConfig::new(&node_name);
    config.socket = args.socket;
    config.data_dir = args.data_dir;
    config.seed = args.seed;
    config.metrics_interval = std::time::Duration::from_secs(args.metrics_interval.max(1));
    if let Some(group) = args.socket_group {
        match flotilla_runtime_linux::host::authz::group_id(&group) {
            Some(gid) => config.socket_group = Some(gid),
            None => {
                eprintln!("error: --socket-group: no group {group:?} on this host");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(dir) = args.state_dir {
        config.runtime.state_dir = dir;
    }
    if let Some(dir) = args.images {
        config.runtime.image_dir = dir;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("error: cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let host = match Host::start(config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "flotilla host: node {node_name:?} ready; API on {}",
        host.socket().display()
    );
    match host.run(&stop) {
        Ok(()) => {
            eprintln!("flotilla host: stopped; every pod stopped and cleaned up");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `TYPE/NAME` → (`TYPE`, `[NAME]`); otherwise the arguments as given.
fn split_target(resource: &str, names: Vec<String>) -> (String, Vec<String>) {
    match resource.split_once('/') {
        Some((kind, name)) => {
            let mut all = vec![name.to_string()];
            all.extend(names);
            (kind.to_string(), all)
        }
        None => (resource.to_string(), names),
    }
}

/// The Deployment a `rollout` command names: `deployment/NAME` (or `deploy/NAME`).
fn deployment_target(target: &str) -> Result<String, String> {
    match target.split_once('/') {
        Some(("deployment" | "deployments" | "deploy" | "deployment.apps", name)) => {
            Ok(name.to_string())
        }
        _ => Err(format!(
            "error: {target:?}: rollout supports deployment/NAME only"
        )),
    }
}

fn manifest_texts(
    files: &[PathBuf],
    recursive: bool,
) -> Result<Vec<flotilla_runtime_linux::host::api::ManifestText>, String> {
    flotilla_sim::manifests::read_texts(files, recursive)
        .map(|texts| {
            texts
                .into_iter()
                .map(|(file, text)| flotilla_runtime_linux::host::api::ManifestText { file, text })
                .collect()
        })
        .map_err(|e| format!("error: {e}"))
}

fn client(socket: &Path, command: Command) -> ExitCode {
    use flotilla_runtime_linux::host::api::Request;
    let request = match command {
        Command::Apply {
            files,
            recursive,
            namespace,
        } => manifest_texts(&files, recursive).map(|manifests| Request::Apply {
            manifests,
            namespace,
        }),
        Command::Get {
            resource,
            names,
            namespace,
            all_namespaces,
            selector,
            output,
        } => {
            let (resource, names) = split_target(&resource, names);
            Ok(Request::Get {
                resource,
                names,
                namespace,
                all_namespaces,
                selector,
                output,
            })
        }
        Command::Describe {
            resource,
            names,
            namespace,
        } => {
            let (resource, names) = split_target(&resource, names);
            Ok(Request::Describe {
                resource,
                names,
                namespace,
            })
        }
        Command::Delete {
            resource,
            names,
            files,
            namespace,
            grace_period,
        } => {
            let (resource, names) = match resource {
                Some(r) => {
                    let (r, n) = split_target(&r, names);
                    (Some(r), n)
                }
                None => (None, names),
            };
            if resource.is_none() && files.is_empty() {
                Err("error: you must provide one or more resources by argument or filename".into())
            } else {
                manifest_texts(&files, false).map(|manifests| Request::Delete {
                    resource,
                    names,
                    manifests,
                    namespace,
                    grace_period,
                })
            }
        }
        Command::Logs {
            pod,
            container,
            namespace,
            previous,
            follow,
        } => Ok(Request::Logs {
            pod: pod.strip_prefix("pod/").unwrap_or(&pod).to_string(),
            container,
            namespace,
            previous,
            follow,
        }),
        Command::Exec {
            pod,
            container,
            namespace,
            command,
        } => Ok(Request::Exec {
            pod: pod.strip_prefix("pod/").unwrap_or(&pod).to_string(),
            container,
            namespace,
            command,
        }),
        Command::Scale {
            target,
            name,
            replicas,
            namespace,
        } => {
            let (resource, names) = split_target(&target, name.into_iter().collect());
            match names.as_slice() {
                [name] => Ok(Request::Scale {
                    resource,
                    name: name.clone(),
                    namespace,
                    replicas,
                }),
                _ => Err("error: scale needs one TYPE/NAME".into()),
            }
        }
        Command::Auth {
            action:
                AuthAction::CanI {
                    verb,
                    resource,
                    name,
                    namespace,
                    all_namespaces,
                    as_user,
                    as_groups,
                },
        } => {
            // `TYPE/NAME` names an object unless the part after `/` is a subresource.
            let (resource, name) = match (resource.split_once('/'), name) {
                (Some((kind, object)), None)
                    if !matches!(
                        object,
                        "log" | "exec" | "status" | "scale" | "binding" | "eviction"
                    ) =>
                {
                    (kind.to_string(), object.to_string())
                }
                (_, name) => (resource.clone(), name.unwrap_or_default()),
            };
            Ok(Request::AuthCanI {
                verb,
                resource,
                name,
                namespace,
                all_namespaces,
                as_user,
                as_groups,
            })
        }
        Command::Rollout { action } => match action {
            RolloutAction::Status {
                target,
                namespace,
                timeout,
            } => deployment_target(&target).map(|name| Request::RolloutStatus {
                name,
                namespace,
                timeout_secs: timeout,
            }),
            RolloutAction::Undo {
                target,
                namespace,
                to_revision,
            } => deployment_target(&target).map(|name| Request::RolloutUndo {
                name,
                namespace,
                to_revision,
            }),
            RolloutAction::History { target, namespace } => {
                deployment_target(&target).map(|name| Request::RolloutHistory { name, namespace })
            }
        },
        _ => Err("error: not a host command".into()),
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    match flotilla_runtime_linux::host::client::call(socket, &request, &mut stdout, &mut stderr) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_scenario(
    scenario: Option<&Path>,
    sets: &[String],
) -> Result<flotilla_sim::scenario::Scenario, ExitCode> {
    let report = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    };
    if !sets.is_empty() {
        let config = flotilla_sim::sweep::configurations(sets, &[]).map_err(|e| report(&e))?;
        return flotilla_sim::sweep::scenario_for(scenario, &config[0]).map_err(|e| report(&e));
    }
    let loaded = match scenario {
        Some(path) => flotilla_sim::scenario::load(path),
        None => flotilla_sim::scenario::builtin_default(),
    };
    loaded.map_err(|e| report(&e))
}

/// A progress bar over the run's virtual time, on stderr when it is a terminal.
fn progress_bar(total: flotilla_model::Duration) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(
        Some(total.as_secs_f64().ceil() as u64),
        ProgressDrawTarget::stderr_with_hz(10),
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} virtual s ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

fn run(
    scenario: Option<&Path>,
    seed: Option<u64>,
    out: &Path,
    events: bool,
    sets: &[String],
) -> ExitCode {
    let scenario = match load_scenario(scenario, sets) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.seed);
    let name = scenario.name.clone();
    let duration = scenario.duration;
    eprintln!(
        "running scenario {name:?}: {} nodes, {:?} of virtual time, seed {seed}",
        scenario.nodes.len(),
        duration
    );
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let events_path = out.join("events.jsonl");
    let mut events_out = if events {
        match std::fs::File::create(&events_path) {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: {}: {e}", events_path.display());
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let started = std::time::Instant::now();
    let mut sim = match Simulation::new(scenario, seed) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = sim.now();
    let mut log = EventLog::new(start);
    let bar = progress_bar(duration);
    let mut drain = |sim: &Simulation| -> std::io::Result<()> {
        match &mut events_out {
            Some(w) => log.drain(sim.cluster(), sim.now(), w),
            None => Ok(()),
        }
    };
    let mut written = drain(&sim);
    while written.is_ok() && sim.step() {
        written = drain(&sim);
        if let Some(bar) = &bar {
            bar.set_position(sim.now().saturating_duration_since(start).as_secs());
        }
    }
    // The steps are done; `run` adds the end-of-run poll and the last sample.
    sim.run();
    written = written.and_then(|()| drain(&sim));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(w) = &mut events_out {
        written = written.and_then(|()| w.flush());
    }
    if let Err(e) = written {
        eprintln!("error: {}: {e}", events_path.display());
        return ExitCode::FAILURE;
    }
    if log.dropped() > 0 {
        eprintln!(
            "warning: events.jsonl misses {} store change(s) or event(s) that left the cluster's bounded history before they were read",
            log.dropped()
        );
    }
    let summary = sim.summary(started.elapsed().as_secs_f64());
    for e in sim.apply_errors().iter().take(10) {
        eprintln!("warning: apply failed: {e}");
    }
    let plots = match flotilla_sim::plots::all(sim.metrics()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(j) => j + "\n",
        Err(e) => {
            eprintln!("error: summary.json: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut files = vec![("summary.json", json), ("metrics.csv", sim.metrics().csv())];
    files.extend(plots);
    for (file, text) in &files {
        let path = out.join(file);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    print!("{}", flotilla_sim::report::summary_table(&summary));
    let mut names: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
    if events {
        names.push("events.jsonl");
    }
    println!("wrote {} to {}", names.join(", "), out.display());
    // The process ends here: freeing the cluster's objects one by one (a large run holds
    // millions) takes longer than the kernel takes to reclaim the pages.
    std::mem::forget(sim);
    ExitCode::SUCCESS
}

struct SweepArgs<'a> {
    scenario: Option<&'a Path>,
    seeds: &'a str,
    sets: &'a [String],
    configs: &'a [String],
    shard: Option<&'a str>,
    jobs: Option<usize>,
    out: &'a Path,
}

fn sweep(args: SweepArgs<'_>) -> ExitCode {
    match try_sweep(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_sweep(args: &SweepArgs<'_>) -> anyhow::Result<()> {
    use flotilla_sim::sweep;
    let seeds = sweep::parse_seeds(args.seeds)?;
    let shard = match args.shard {
        Some(s) => s.parse()?,
        None => sweep::Shard::ALL,
    };
    let seeds = shard.select(&seeds);
    let configs = sweep::configurations(args.sets, args.configs)?;
    let plan = configs
        .into_iter()
        .map(|c| {
            let scenario = sweep::scenario_for(args.scenario, &c)?;
            Ok((c, scenario))
        })
        .collect::<Result<Vec<_>, sweep::SweepError>>()?;
    let total = plan.len() * seeds.len();
    eprintln!(
        "sweep of scenario {:?}: {} configuration(s) x {} seed(s) = {total} run(s){}",
        plan.first().map_or("", |(_, s)| s.name.as_str()),
        plan.len(),
        seeds.len(),
        if shard == sweep::Shard::ALL {
            String::new()
        } else {
            format!(" (shard {}/{})", shard.index, shard.count)
        }
    );
    std::fs::create_dir_all(args.out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    // The edits of each configuration, to reproduce any row with `flotilla run --set`.
    let described: serde_json::Map<String, serde_json::Value> = plan
        .iter()
        .map(|(c, _)| {
            let sets: Vec<&str> = c.sets.iter().map(|s| s.text.as_str()).collect();
            (c.name.clone(), serde_json::json!(sets))
        })
        .collect();
    let path = args.out.join("sweep_configurations.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&serde_json::Value::Object(described))? + "\n",
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let done = |row: &sweep::RunRow| {
        let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let wall = row
            .values
            .iter()
            .find(|(k, _)| k == "wall_time_s")
            .map_or(0.0, |(_, v)| *v);
        eprintln!(
            "[{n}/{total}] {} seed {}: digest {} ({wall:.2} s)",
            row.configuration, row.seed, row.digest
        );
    };
    let started = std::time::Instant::now();
    let rows = sweep::run_sweep(&plan, &seeds, args.jobs, &done)?;
    let csv_path = sweep::csv_path(args.out, shard);
    std::fs::write(&csv_path, sweep::sweep_csv(&rows))
        .map_err(|e| anyhow::anyhow!("{}: {e}", csv_path.display()))?;
    let stats = sweep::statistics(&rows);
    let mut written = vec![csv_path.display().to_string()];
    if shard == sweep::Shard::ALL {
        let path = args.out.join("sweep_summary.csv");
        std::fs::write(&path, sweep::statistics_csv(&stats))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        written.push(path.display().to_string());
    }
    print!("{}", sweep::statistics_table(&stats));
    println!(
        "{total} run(s) in {:.1} s; wrote {}",
        started.elapsed().as_secs_f64(),
        written.join(" and ")
    );
    Ok(())
}

fn sweep_report(files: &[PathBuf], out: Option<&Path>) -> ExitCode {
    use flotilla_sim::sweep;
    let mut rows = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        };
        match sweep::parse_sweep_csv(&f.display().to_string(), &text) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // Shards may be given in any order: runs in (configuration as first seen, seed) order.
    let mut order: Vec<String> = Vec::new();
    for r in &rows {
        if !order.contains(&r.configuration) {
            order.push(r.configuration.clone());
        }
    }
    rows.sort_by_key(|r| (order.iter().position(|c| *c == r.configuration), r.seed));
    let stats = sweep::statistics(&rows);
    print!("{}", sweep::statistics_table(&stats));
    if let Some(out) = out {
        let path = out.join("sweep_summary.csv");
        let written = std::fs::create_dir_all(out)
            .and_then(|()| std::fs::write(&path, sweep::statistics_csv(&stats)));
        if let Err(e) = written {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn explain(
    files: &[PathBuf],
    recursive: bool,
    pod: &str,
    config: Option<&std::path::Path>,
    seed: u64,
    output: Output,
) -> ExitCode {
    let loaded = match load_paths(files, recursive) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !loaded.errors.is_empty() {
        for e in &loaded.errors {
            eprintln!("error: {e}");
        }
        return ExitCode::FAILURE;
    }
    let registry = flotilla_scheduler::plugins::default_registry();
    let scheduler_config = match config {
        None => flotilla_scheduler::config::SchedulerConfig::default_with(&registry),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => flotilla_scheduler::config::SchedulerConfig::from_yaml(&text, &registry),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let scheduler_config = match scheduler_config {
        Ok(c) => c,
        Err(e) => {
            match config {
                Some(path) => eprintln!("error: {}: {e}", path.display()),
                None => eprintln!("error: {e}"),
            }
            return ExitCode::FAILURE;
        }
    };
    let explanation =
        match flotilla_sim::explain::explain_pod(&loaded.manifests, pod, &scheduler_config, seed) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    let text = match output {
        Output::Json => match serde_json::to_string_pretty(&explanation) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Output::Table => flotilla_sim::explain::render_table(&explanation),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing output: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn validate(files: &[PathBuf], recursive: bool, output: Output) -> ExitCode {
    let loaded = match load_paths(files, recursive) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let errors = &loaded.errors;
    let objects = &loaded.manifests.objects;
    let warnings = &loaded.manifests.warnings;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = match output {
        Output::Json => {
            let doc = serde_json::json!({
                "valid": errors.is_empty(),
                "files": &loaded.files,
                "objects": objects.iter().map(|o| serde_json::json!({
                    "apiVersion": o.object.kind().api_version(),
                    "kind": o.object.kind().name(),
                    "namespace": o.object.metadata().namespace,
                    "name": display_name(o.object.metadata()),
                    "file": &*o.location.file,
                    "line": o.location.line,
                    "column": o.location.column,
                })).collect::<Vec<_>>(),
                "warnings": warnings.iter().map(|w| serde_json::json!({
                    "file": &*w.location.file,
                    "line": w.location.line,
                    "column": w.location.column,
                    "path": w.path.to_string(),
                    "message": w.message,
                })).collect::<Vec<_>>(),
                "errors": errors.iter().map(|e| serde_json::json!({
                    "file": &*e.location.file,
                    "line": e.location.line,
                    "column": e.location.column,
                    "path": e.path.as_ref().map(ToString::to_string),
                    "message": e.kind.to_string(),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(|e| match e.io_error_kind() {
                    Some(kind) => std::io::Error::new(kind, e),
                    None => std::io::Error::other(e),
                })
                .and_then(|()| writeln!(out))
        }
        Output::Table => print_table(&mut out, &loaded),
    };
    match written {
        // The reader went away (`flotilla validate ... | head`): nothing left to tell it.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("error: writing output: {e}");
            return ExitCode::FAILURE;
        }
        Ok(()) => {}
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn display_name(meta: &flotilla_model::ObjectMeta) -> String {
    if meta.name.is_empty() {
        format!("{}*", meta.generate_name)
    } else {
        meta.name.clone()
    }
}

fn print_table(
    out: &mut impl Write,
    loaded: &flotilla_sim::manifests::Loaded,
) -> std::io::Result<()> {
    let errors = &loaded.errors;
    let rows: Vec<[String; 4]> = loaded
        .manifests
        .objects
        .iter()
        .map(|o| {
            let meta = o.object.metadata();
            let ns = if o.object.kind().namespaced() {
                if meta.namespace.is_empty() {
                    "default".to_string()
                } else {
                    meta.namespace.clone()
                }
            } else {
                "-".to_string()
            };
            [
                o.object.kind().name().to_string(),
                ns,
                display_name(meta),
                o.location.to_string(),
            ]
        })
        .collect();
    let headers = ["KIND", "NAMESPACE", "NAME", "SOURCE"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    writeln!(
        out,
        "{:<w0$}   {:<w1$}   {:<w2$}   {}",
        headers[0],
        headers[1],
        headers[2],
        headers[3],
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2]
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    for w in &loaded.manifests.warnings {
        writeln!(out, "warning: {w}")?;
    }
    for e in errors {
        writeln!(out, "error: {e}")?;
    }
    let files = loaded.files.len();
    writeln!(
        out,
        "{} object(s) in {} file(s): {} warning(s), {} error(s)",
        rows.len(),
        files,
        loaded.manifests.warnings.len(),
        errors.len()
    )
}
