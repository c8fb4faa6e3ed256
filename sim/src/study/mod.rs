//! Studies: experiments that reproduce published results by driving the scheduler framework
//! directly, without the whole simulated cluster.
//!
//! - [`fgd`]: the GPU-sharing policies of Weng et al., "Beware of Fragmentation" (USENIX ATC
//!   2023), on the Alibaba GPU trace v2023 (`flotilla study fgd`).

pub mod fgd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use flotilla_scheduler::plugins::gpu::Policy;

/// `flotilla study …`: the studies and their options.
#[derive(clap::Subcommand, Debug)]
pub enum StudyCommand {
    /// The FGD study (Weng et al., ATC'23, Fig. 9a): six GPU scheduling policies on the Alibaba
    /// GPU trace v2023, pods arriving until 130 % of the GPUs are requested, for each seed.
    /// Writes `fgd_<trace>_curves.csv`, `fgd_<trace>_summary.csv` and `fgd_<trace>.svg`, and prints
    /// the allocation ratios at x = 95, 100, 130 next to the paper's.
    Fgd {
        /// The pod list (openb_pod_list_*.csv); the node list is
        /// openb_node_list_gpu_node.csv beside it unless --nodes names one.
        #[arg(
            long,
            default_value = "../shared/traces/alibaba-gpu-v2023/openb_pod_list_default.csv"
        )]
        trace: PathBuf,
        /// The node list.
        #[arg(long)]
        nodes: Option<PathBuf>,
        /// Seeds: `42..51` (inclusive) or a comma-separated list.
        #[arg(long, default_value = "42..51")]
        seeds: String,
        /// Policies, comma-separated (Random, DotProd, GpuClustering, GpuPacking, BestFit, FGD);
        /// all when absent.
        #[arg(long)]
        policies: Option<String>,
        /// Run the paper's 17 trace files found beside --trace instead of --trace alone.
        #[arg(long)]
        all_traces: bool,
        /// Where to write the CSV and SVG files.
        #[arg(long, default_value = "out/fgd")]
        out: PathBuf,
    },
}

/// Parses `42..51` (inclusive) or `42,43,50`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    if let Some((a, b)) = text.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|_| format!("bad seed {a:?}"))?;
        let b: u64 = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| format!("bad seed {b:?}"))?;
        if a > b {
            return Err(format!("empty seed range {text:?}"));
        }
        return Ok((a..=b).collect());
    }
    text.split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("bad seed {s:?}")))
        .collect()
}

/// Runs a study command; prints the results and where they were written.
pub fn main(command: StudyCommand) -> ExitCode {
    match run_command(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(command: StudyCommand) -> Result<(), String> {
    let StudyCommand::Fgd {
        trace,
        nodes,
        seeds,
        policies,
        all_traces,
        out,
    } = command;
    let seeds = parse_seeds(&seeds)?;
    let policies: Vec<Policy> = match policies {
        None => Policy::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|p| Policy::from_name(p.trim()).ok_or_else(|| format!("unknown policy {p:?}")))
            .collect::<Result<_, _>>()?,
    };
    let dir = trace.parent().map(PathBuf::from).unwrap_or_default();
    let nodes = nodes.unwrap_or_else(|| dir.join(fgd::GPU_NODE_LIST));
    let traces: Vec<PathBuf> = if all_traces {
        fgd::PAPER_TRACES
            .iter()
            .map(|t| dir.join(format!("{t}.csv")))
            .collect()
    } else {
        vec![trace]
    };
    let started = Instant::now();
    let mut experiments = 0;
    for pods in &traces {
        let t0 = Instant::now();
        let workload = fgd::Workload::load(&nodes, pods).map_err(|e| e.to_string())?;
        let runs = fgd::grid(&workload, &policies, &seeds, fgd::TUNE_RATIO);
        experiments += runs.len();
        let elapsed = t0.elapsed().as_secs_f64();
        let files = fgd::write_outputs(&out, &workload, &runs).map_err(|e| e.to_string())?;
        println!(
            "{}: {} nodes, {} GPUs, {} pods ({:.2} % of the GPUs requested); {} experiments in {:.1} s ({:.2} s each)",
            workload.name,
            workload.nodes.len(),
            workload.capacity_milli / 1000,
            workload.pods.len(),
            workload.requested_milli() as f64 / workload.capacity_milli as f64 * 100.0,
            runs.len(),
            elapsed,
            elapsed / runs.len().max(1) as f64,
        );
        println!("{}", fgd::report(&workload, &fgd::summarize(&runs)));
        for f in files {
            println!("wrote {}", f.display());
        }
    }
    if traces.len() > 1 {
        println!(
            "{experiments} experiments in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
