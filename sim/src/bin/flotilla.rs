//! The `flotilla` command-line program.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use flotilla_sim::manifests::load_paths;

/// Flotilla: a Kubernetes-style orchestrator, modelled faithfully and made fast.
#[derive(Parser, Debug)]
#[command(name = "flotilla", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a seeded simulation: a scenario file, or the built-in default scenario (1,000 nodes
    /// in three zones, Deployments with a rolling update, a stream of batch Jobs). Prints a
    /// summary and writes summary.json and metrics.csv to the output directory.
    Run {
        /// A scenario file (`apiVersion: sim.flotilla.io/v1`, `kind: Scenario`).
        scenario: Option<PathBuf>,
        /// The seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write summary.json and metrics.csv.
        #[arg(long, default_value = "flotilla-out")]
        out: PathBuf,
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// A table of objects, then warnings and errors.
    Table,
    /// One JSON document.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
        } => run(scenario.as_deref(), seed, &out),
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
    }
}

fn run(scenario: Option<&std::path::Path>, seed: Option<u64>, out: &std::path::Path) -> ExitCode {
    let loaded = match scenario {
        Some(path) => flotilla_sim::scenario::load(path),
        None => flotilla_sim::scenario::builtin_default(),
    };
    let scenario = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seed = seed.unwrap_or(scenario.seed);
    let name = scenario.name.clone();
    eprintln!(
        "running scenario {name:?}: {} nodes, {:?} of virtual time, seed {seed}",
        scenario.nodes.len(),
        scenario.duration
    );
    let started = std::time::Instant::now();
    let mut sim = match flotilla_sim::engine::Simulation::new(scenario, seed) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    sim.run();
    let summary = sim.summary(started.elapsed().as_secs_f64());
    for e in sim.apply_errors().iter().take(10) {
        eprintln!("warning: apply failed: {e}");
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    for (file, text) in [
        ("summary.json", json + "\n"),
        ("metrics.csv", sim.metrics().csv()),
    ] {
        let path = out.join(file);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    print!("{}", flotilla_sim::report::summary_table(&summary));
    println!(
        "wrote {} and {}",
        out.join("summary.json").display(),
        out.join("metrics.csv").display()
    );
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
