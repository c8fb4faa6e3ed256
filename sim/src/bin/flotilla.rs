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
        Command::Validate {
            files,
            recursive,
            output,
        } => validate(&files, recursive, output),
    }
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
