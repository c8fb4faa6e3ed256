//! `flotilla sweep`: many seeded runs of one scenario, under one or more configurations, and
//! the mean and 95% confidence interval of every summary metric.
//!
//! - Seeds: `1..20` (1 to 20, both included, as the shell's `{1..20}`), `1..=20` (the same),
//!   a list `1,5,9`, or one seed. [`Shard`] `I/N` keeps the seeds whose position in that list
//!   is I modulo N, so N machines (a Kubernetes Indexed Job) split a sweep between them.
//! - Edits: `PATH=VALUE` sets a field of the scenario file before it is checked. PATH is
//!   dotted with `[i]` list indexes and `["key"]` for keys that hold dots
//!   (`spec.nodePools[0].count`, `spec.nodePools[0].labels["topology.kubernetes.io/zone"]`).
//!   VALUE is YAML (`200`, `true`, `{cpu: "8"}`); where the field already holds a string the
//!   text is kept as a string; `@FILE` reads the value from a file, as a string
//!   (`spec.schedulerConfig=@most-allocated.yaml`). Missing mapping keys are created, and a
//!   list index equal to the list's length appends.
//! - Configurations: every edit given with `--set` applies to all configurations; each
//!   `--config NAME:PATH=VALUE` adds one edit to configuration NAME (repeat it for several),
//!   and `--config NAME` declares a configuration with no edits of its own (a baseline).
//!   Configurations keep the order in which they first appear.
//! - Common random numbers: every configuration runs the same seeds, and a run's random
//!   streams are derived from its seed and the component's name only, so two configurations
//!   see the same arrivals and run times. The table therefore also gives each metric's paired
//!   difference from the first configuration (per seed), whose interval is usually much
//!   narrower than the difference of the two intervals.
//!
//! Runs execute in parallel, `--jobs` at a time (rayon's thread count by default); each run is
//! confined to a rayon pool of one thread, so the scheduler's parallel filtering and scoring
//! runs inline, one run uses one core, and a run's event log (and
//! [`Summary::event_log_digest`]) is the same as a run alone with any number of threads.
//!
//! ```
//! use flotilla_sim::sweep::{parse_seeds, Shard};
//!
//! let seeds = parse_seeds("1..10").unwrap();
//! assert_eq!(seeds.len(), 10);
//! let shard: Shard = "1/3".parse().unwrap();
//! assert_eq!(shard.select(&seeds), vec![2, 5, 8]);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::engine::Simulation;
use crate::metrics::Summary;
use crate::scenario::{self, Scenario};

/// What went wrong in a sweep's arguments or files.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// `--seeds` could not be read.
    #[error("seeds {text:?}: {message}")]
    Seeds {
        /// The argument.
        text: String,
        /// Why.
        message: String,
    },
    /// `--shard` could not be read.
    #[error("shard {text:?}: expected I/N with 0 <= I < N")]
    Shard {
        /// The argument.
        text: String,
    },
    /// A `PATH=VALUE` edit could not be read or applied.
    #[error("set {set:?}: {message}")]
    Set {
        /// The edit.
        set: String,
        /// Why.
        message: String,
    },
    /// A `--config` argument could not be read.
    #[error("config {text:?}: {message}")]
    Config {
        /// The argument.
        text: String,
        /// Why.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scenario, after the edits, is not a valid scenario.
    #[error("configuration {configuration:?}: {source}")]
    Scenario {
        /// The configuration.
        configuration: String,
        /// The scenario error.
        #[source]
        source: scenario::ScenarioError,
    },
    /// A run could not start.
    #[error("configuration {configuration:?}, seed {seed}: {message}")]
    Run {
        /// The configuration.
        configuration: String,
        /// The seed.
        seed: u64,
        /// Why.
        message: String,
    },
    /// A `sweep.csv` file could not be read back.
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// Why.
        message: String,
    },
}

/// Reads a seed list: `A..B` or `A..=B` (both ends included), `A,B,C`, or `A`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, SweepError> {
    let bad = |message: &str| SweepError::Seeds {
        text: text.to_string(),
        message: message.to_string(),
    };
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| bad(&format!("{:?} is not a seed (a whole number)", s.trim())))
    };
    if let Some((a, b)) = text.split_once("..") {
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b) = (number(a)?, number(b)?);
        if b < a {
            return Err(bad("the range is empty"));
        }
        if b - a >= 1_000_000 {
            return Err(bad("more than a million seeds"));
        }
        return Ok((a..=b).collect());
    }
    let seeds: Vec<u64> = text.split(',').map(number).collect::<Result<_, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(bad(&format!("seed {dup} is listed twice")));
    }
    Ok(seeds)
}

/// One slice of a sweep: the seeds at positions `index`, `index + count`, … of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard's number, from 0 (a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
    pub index: usize,
    /// How many shards (the Job's `completions`).
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The seeds of this shard, in order.
    pub fn select(&self, seeds: &[u64]) -> Vec<u64> {
        seeds
            .iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, s)| *s)
            .collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Shard, SweepError> {
        let bad = || SweepError::Shard {
            text: text.to_string(),
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// One `PATH=VALUE` edit of a scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// The argument as given, for messages.
    pub text: String,
    path: Vec<Segment>,
    value: SetValue,
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq)]
enum SetValue {
    /// YAML text; kept as a string where the field holds a string.
    Text(String),
    /// Read from a file: always a string.
    File(String),
}

impl Set {
    /// Reads `PATH=VALUE`; `@FILE` values are read now, relative to the working directory.
    pub fn parse(text: &str) -> Result<Set, SweepError> {
        let bad = |message: String| SweepError::Set {
            set: text.to_string(),
            message,
        };
        let (path, value) = text
            .split_once('=')
            .ok_or_else(|| bad("expected PATH=VALUE".into()))?;
        let path = parse_path(path.trim()).map_err(bad)?;
        let value = match value.strip_prefix('@') {
            Some(file) => {
                SetValue::File(std::fs::read_to_string(file).map_err(|e| SweepError::Read {
                    path: file.to_string(),
                    source: e,
                })?)
            }
            None => SetValue::Text(value.to_string()),
        };
        Ok(Set {
            text: text.to_string(),
            path,
            value,
        })
    }

    /// Applies the edit to a scenario document.
    pub fn apply(&self, doc: &mut Value) -> Result<(), SweepError> {
        let bad = |message: String| SweepError::Set {
            set: self.text.clone(),
            message,
        };
        let mut here = doc;
        let mut walked = String::new();
        for segment in &self.path {
            here = match segment {
                Segment::Key(k) => {
                    if here.is_null() {
                        *here = Value::Mapping(Default::default());
                    }
                    let Value::Mapping(m) = here else {
                        return Err(bad(format!("{walked} is not a mapping")));
                    };
                    walked = if walked.is_empty() {
                        k.clone()
                    } else {
                        format!("{walked}.{k}")
                    };
                    m.entry(Value::String(k.clone())).or_insert(Value::Null)
                }
                Segment::Index(i) => {
                    let Value::Sequence(s) = here else {
                        return Err(bad(format!("{walked} is not a list")));
                    };
                    if *i == s.len() {
                        s.push(Value::Null);
                    } else if *i > s.len() {
                        return Err(bad(format!(
                            "{walked} has {} item(s); index {i} is past its end",
                            s.len()
                        )));
                    }
                    walked = format!("{walked}[{i}]");
                    &mut s[*i]
                }
            };
        }
        *here = match &self.value {
            SetValue::File(text) => Value::String(text.clone()),
            SetValue::Text(text) if here.is_string() => Value::String(text.clone()),
            SetValue::Text(text) => serde_yaml::from_str(text)
                .map_err(|e| bad(format!("the value is not YAML: {e}")))?,
        };
        Ok(())
    }
}

fn parse_path(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unclosed [ in path {text:?}"))?;
            let inner = &r[..end];
            if let Some(key) = inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
                out.push(Segment::Key(key.to_string()));
            } else {
                let i = inner
                    .parse()
                    .map_err(|_| format!("[{inner}] in path {text:?} is not an index"))?;
                out.push(Segment::Index(i));
            }
            rest = &r[end + 1..];
            expect_key = false;
        } else if let Some(r) = rest.strip_prefix('.') {
            if expect_key {
                return Err(format!("empty field name in path {text:?}"));
            }
            rest = r;
            expect_key = true;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Segment::Key(rest[..end].to_string()));
            rest = &rest[end..];
            expect_key = false;
        }
    }
    if out.is_empty() || expect_key {
        return Err(format!("path {text:?} ends without a field name"));
    }
    Ok(out)
}

/// A named set of edits: one arm of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Configuration {
    /// The name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The edits, in order: the common ones first.
    pub sets: Vec<Set>,
}

/// The configurations of a sweep from its `--set` (common) and `--config` arguments; one
/// configuration named `base` when there is no `--config`.
pub fn configurations(
    common: &[String],
    configs: &[String],
) -> Result<Vec<Configuration>, SweepError> {
    let common: Vec<Set> = common
        .iter()
        .map(|s| Set::parse(s))
        .collect::<Result<_, _>>()?;
    if configs.is_empty() {
        return Ok(vec![Configuration {
            name: "base".into(),
            sets: common,
        }]);
    }
    let mut out: Vec<Configuration> = Vec::new();
    for text in configs {
        let (name, set) = match text.split_once(':') {
            Some((name, set)) => (name, Some(set)),
            None => (text.as_str(), None),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(SweepError::Config {
                text: text.clone(),
                message: "a configuration's name is letters, digits, '-', '_' and '.'".into(),
            });
        }
        let index = match out.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                out.push(Configuration {
                    name: name.to_string(),
                    sets: common.clone(),
                });
                out.len() - 1
            }
        };
        if let Some(set) = set.filter(|s| !s.is_empty()) {
            out[index].sets.push(Set::parse(set)?);
        }
    }
    Ok(out)
}

/// Reads a scenario (the built-in default when `path` is `None`), applies `config`'s edits to
/// its YAML and checks the result.
pub fn scenario_for(path: Option<&Path>, config: &Configuration) -> Result<Scenario, SweepError> {
    let (file, text) = scenario::source(path).map_err(|e| match e {
        scenario::ScenarioError::Read { file, source } => SweepError::Read { path: file, source },
        other => SweepError::Scenario {
            configuration: config.name.clone(),
            source: other,
        },
    })?;
    let wrap = |source| SweepError::Scenario {
        configuration: config.name.clone(),
        source,
    };
    if config.sets.is_empty() {
        return scenario::parse(&file, &text).map_err(wrap);
    }
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| SweepError::Set {
        set: config.sets[0].text.clone(),
        message: format!("{file} is not YAML: {e}"),
    })?;
    for set in &config.sets {
        set.apply(&mut doc)?;
    }
    let edited = serde_yaml::to_string(&doc).map_err(|e| SweepError::Set {
        set: config.sets[0].text.clone(),
        message: e.to_string(),
    })?;
    // Line numbers in errors refer to the edited document; the file name keeps trace paths
    // relative to the scenario's directory.
    scenario::parse(&file, &edited).map_err(wrap)
}

/// One run's result: a row of `sweep.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// The configuration's name.
    pub configuration: String,
    /// The seed.
    pub seed: u64,
    /// The run's event-log digest.
    pub digest: String,
    /// The summary's numbers, by metric name (nested fields dotted:
    /// `scheduling_latency_ms.p99`, `allocation_ratio_mean.cpu`).
    pub values: Vec<(String, f64)>,
}

/// A summary's numbers, in `summary.json`'s order, nested fields dotted.
pub fn metric_values(s: &Summary) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = vec![
        ("sim_time_s".into(), s.sim_time_s),
        ("wall_time_s".into(), s.wall_time_s),
        ("events_processed".into(), s.events_processed as f64),
        ("nodes".into(), s.nodes as f64),
        ("pods_created".into(), s.pods_created as f64),
        ("pods_scheduled".into(), s.pods_scheduled as f64),
        ("pods_running_at_end".into(), s.pods_running_at_end as f64),
        ("pods_succeeded".into(), s.pods_succeeded as f64),
        ("pods_failed".into(), s.pods_failed as f64),
        ("pods_deleted".into(), s.pods_deleted as f64),
        ("pods_pending_at_end".into(), s.pods_pending_at_end as f64),
        ("pods_unschedulable".into(), s.pods_unschedulable as f64),
        ("evictions".into(), s.evictions as f64),
        ("preemptions".into(), s.preemptions as f64),
        ("restarts".into(), s.restarts as f64),
    ];
    for (name, p) in [
        ("scheduling_latency_ms", &s.scheduling_latency_ms),
        ("startup_latency_ms", &s.startup_latency_ms),
    ] {
        v.push((format!("{name}.p50"), p.p50));
        v.push((format!("{name}.p90"), p.p90));
        v.push((format!("{name}.p99"), p.p99));
        v.push((format!("{name}.max"), p.max));
    }
    for (r, x) in &s.allocation_ratio_mean {
        v.push((format!("allocation_ratio_mean.{r}"), *x));
    }
    v.push(("slo_pod_startup_5s".into(), s.slo_pod_startup_5s));
    v
}

/// Runs one seed of a scenario on a rayon pool of one thread, so that everything the run does
/// in parallel runs inline, and returns its summary. Call it from a thread that is not a
/// rayon worker: a worker waiting for another pool steals its own pool's jobs meanwhile.
pub fn run_one(scenario: Scenario, seed: u64) -> Result<Summary, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    run_in(&pool, scenario, seed)
}

fn run_in(pool: &rayon::ThreadPool, scenario: Scenario, seed: u64) -> Result<Summary, String> {
    pool.install(|| {
        let started = std::time::Instant::now();
        let mut sim = Simulation::new(scenario, seed).map_err(|e| e.to_string())?;
        sim.run();
        Ok(sim.summary(started.elapsed().as_secs_f64()))
    })
}

/// Runs every seed under every configuration, `jobs` runs at a time (default: rayon's thread
/// count, which honours `RAYON_NUM_THREADS`), and returns the rows in (configuration, seed)
/// order. `done` is called as each run finishes (from the worker thread), for progress
/// reports.
///
/// Each worker is a plain thread with a rayon pool of one thread of its own, and takes the
/// next run when it has finished the last: so exactly `jobs` runs are in memory at once. (Runs
/// as rayon tasks of one pool would not bound that: a worker waiting inside a run's parallel
/// section may steal and start another run.)
pub fn run_sweep(
    plan: &[(Configuration, Scenario)],
    seeds: &[u64],
    jobs: Option<usize>,
    done: &(dyn Fn(&RunRow) + Sync),
) -> Result<Vec<RunRow>, SweepError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let work: Vec<(usize, u64)> = (0..plan.len())
        .flat_map(|c| seeds.iter().map(move |s| (c, *s)))
        .collect();
    let workers = jobs
        .unwrap_or_else(rayon::current_num_threads)
        .clamp(1, work.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: std::sync::Mutex<Vec<Option<Result<RunRow, SweepError>>>> =
        std::sync::Mutex::new((0..work.len()).map(|_| None).collect());
    let worker = || -> Result<(), SweepError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| SweepError::Run {
                configuration: String::new(),
                seed: 0,
                message: e.to_string(),
            })?;
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(c, seed)) = work.get(i) else {
                break;
            };
            let (config, scenario) = &plan[c];
            let row = run_in(&pool, scenario.clone(), seed)
                .map(|summary| RunRow {
                    configuration: config.name.clone(),
                    seed,
                    digest: summary.event_log_digest.clone(),
                    values: metric_values(&summary),
                })
                .map_err(|message| SweepError::Run {
                    configuration: config.name.clone(),
                    seed,
                    message,
                });
            match &row {
                Ok(r) => done(r),
                Err(_) => failed.store(true, Ordering::Relaxed),
            }
            results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(row);
        }
        Ok(())
    };
    let started: Vec<Result<(), SweepError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|n| {
                std::thread::Builder::new()
                    .name(format!("flotilla-sweep-{n}"))
                    .spawn_scoped(scope, worker)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err(e) => Err(SweepError::Run {
                    configuration: String::new(),
                    seed: 0,
                    message: format!("starting a worker thread: {e}"),
                }),
            })
            .collect()
    });
    started.into_iter().collect::<Result<(), _>>()?;
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    // In order; the first failed run is the error (runs after it were not started).
    results
        .into_iter()
        .flatten()
        .collect::<Result<Vec<RunRow>, SweepError>>()
}

/// The metric columns of `rows`, in order of first appearance.
fn columns(rows: &[RunRow]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        for (k, _) in &r.values {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// `sweep.csv`: a header, then one row per run: configuration, seed, digest and the metrics.
pub fn sweep_csv(rows: &[RunRow]) -> String {
    let cols = columns(rows);
    let mut out = String::from("configuration,seed,event_log_digest");
    for c in &cols {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for r in rows {
        out.push_str(&format!("{},{},{}", r.configuration, r.seed, r.digest));
        let values: BTreeMap<&str, f64> = r.values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for c in &cols {
            out.push(',');
            if let Some(v) = values.get(c.as_str()) {
                out.push_str(&v.to_string());
            }
        }
        out.push('\n');
    }
    out
}

/// Reads a `sweep.csv` back (to combine the shards of a sweep); `file` names it in errors.
pub fn parse_sweep_csv(file: &str, text: &str) -> Result<Vec<RunRow>, SweepError> {
    let bad = |line: usize, message: String| SweepError::Csv {
        file: file.to_string(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(bad(1, "empty file".into()));
    };
    let header: Vec<&str> = header.split(',').collect();
    if header.len() < 3 || header[..3] != ["configuration", "seed", "event_log_digest"] {
        return Err(bad(
            1,
            "expected a header starting configuration,seed,event_log_digest".into(),
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(bad(
                i + 1,
                format!("{} cells, the header has {}", cells.len(), header.len()),
            ));
        }
        let seed = cells[1]
            .parse()
            .map_err(|_| bad(i + 1, format!("seed {:?} is not a number", cells[1])))?;
        let mut values = Vec::new();
        for (name, cell) in header[3..].iter().zip(&cells[3..]) {
            if cell.is_empty() {
                continue;
            }
            let v = cell
                .parse()
                .map_err(|_| bad(i + 1, format!("{name}: {cell:?} is not a number")))?;
            values.push((name.to_string(), v));
        }
        rows.push(RunRow {
            configuration: cells[0].to_string(),
            seed,
            digest: cells[2].to_string(),
            values,
        });
    }
    Ok(rows)
}

/// A metric's mean and 95% confidence interval under one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    /// The configuration.
    pub configuration: String,
    /// The metric.
    pub metric: String,
    /// Runs.
    pub n: usize,
    /// The sample mean.
    pub mean: f64,
    /// Half the width of the 95% confidence interval (Student's t with n − 1 degrees of
    /// freedom); NaN for a single run.
    pub half_width: f64,
    /// For configurations after the first: the mean of the per-seed differences from the
    /// first configuration and the half-width of its 95% interval (a paired t interval, the
    /// comparison common random numbers make sharp).
    pub delta: Option<(f64, f64)>,
}

/// The two-sided 95% quantile of Student's t distribution with `df` degrees of freedom
/// (`t_{0.975, df}`); NaN for 0.
pub fn t_975(df: usize) -> f64 {
    // Exact to four decimals for 1–30 (any statistics table); beyond, the Cornish–Fisher
    // expansion of Abramowitz & Stegun 26.7.5, within 1e-4 from df = 30.
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let n = df as f64;
            let g1 = (z.powi(3) + z) / 4.0;
            let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
            let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
            let g4 = (79.0 * z.powi(9) + 776.0 * z.powi(7) + 1482.0 * z.powi(5)
                - 1920.0 * z.powi(3)
                - 945.0 * z)
                / 92160.0;
            z + g1 / n + g2 / n.powi(2) + g3 / n.powi(3) + g4 / n.powi(4)
        }
    }
}

/// Mean and 95% half-width of `values`.
pub fn mean_ci(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, f64::NAN);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (var / n as f64).sqrt())
}

/// Every metric's statistics per configuration (configurations and metrics in order of first
/// appearance).
pub fn statistics(rows: &[RunRow]) -> Vec<Stat> {
    let mut configs: Vec<&str> = Vec::new();
    for r in rows {
        if !configs.contains(&r.configuration.as_str()) {
            configs.push(&r.configuration);
        }
    }
    let by_config_seed: BTreeMap<(&str, u64), BTreeMap<&str, f64>> = rows
        .iter()
        .map(|r| {
            (
                (r.configuration.as_str(), r.seed),
                r.values.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            )
        })
        .collect();
    let base = configs.first().copied();
    let mut out = Vec::new();
    for config in &configs {
        for metric in columns(rows) {
            let mut values = Vec::new();
            let mut deltas = Vec::new();
            for r in rows.iter().filter(|r| r.configuration == *config) {
                let Some(v) = by_config_seed[&(*config, r.seed)].get(metric.as_str()) else {
                    continue;
                };
                values.push(*v);
                if let Some(b) = base
                    .filter(|b| b != config)
                    .and_then(|b| by_config_seed.get(&(b, r.seed)))
                    .and_then(|m| m.get(metric.as_str()))
                {
                    deltas.push(v - b);
                }
            }
            if values.is_empty() {
                continue;
            }
            let (mean, half_width) = mean_ci(&values);
            let delta = (!deltas.is_empty()).then(|| mean_ci(&deltas));
            out.push(Stat {
                configuration: config.to_string(),
                metric,
                n: values.len(),
                mean,
                half_width,
                delta,
            });
        }
    }
    out
}

fn num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x}")
    }
}

/// `sweep_summary.csv`: configuration, metric, n, mean, the interval's ends and half-width,
/// and the paired difference from the first configuration.
pub fn statistics_csv(stats: &[Stat]) -> String {
    let mut out = String::from(
        "configuration,metric,n,mean,ci95_low,ci95_high,ci95_half_width,delta_mean,delta_ci95_low,delta_ci95_high\n",
    );
    for s in stats {
        let (dm, dl, dh) = match s.delta {
            Some((m, h)) => (num(m), num(m - h), num(m + h)),
            None => (String::new(), String::new(), String::new()),
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{dm},{dl},{dh}\n",
            s.configuration,
            s.metric,
            s.n,
            num(s.mean),
            num(s.mean - s.half_width),
            num(s.mean + s.half_width),
            num(s.half_width),
        ));
    }
    out
}

fn short(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.2e}")
    } else if x.abs() < 10.0 {
        format!("{x:.3}")
    } else if x.abs() < 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// The statistics as a text table: one row per metric, a column per configuration with
/// `mean ± half-width`, and for later configurations the paired difference from the first.
pub fn statistics_table(stats: &[Stat]) -> String {
    let mut configs: Vec<&str> = Vec::new();
    let mut metrics: Vec<&str> = Vec::new();
    for s in stats {
        if !configs.contains(&s.configuration.as_str()) {
            configs.push(&s.configuration);
        }
        if !metrics.contains(&s.metric.as_str()) {
            metrics.push(&s.metric);
        }
    }
    let cell: BTreeMap<(&str, &str), &Stat> = stats
        .iter()
        .map(|s| ((s.configuration.as_str(), s.metric.as_str()), s))
        .collect();
    let mut header = vec!["metric".to_string()];
    for (i, c) in configs.iter().enumerate() {
        let n = stats
            .iter()
            .filter(|s| s.configuration == *c)
            .map(|s| s.n)
            .max()
            .unwrap_or(0);
        header.push(format!("{c} (n={n})"));
        if i > 0 {
            header.push(format!("{c} − {}", configs[0]));
        }
    }
    let mut rows = vec![header];
    for m in &metrics {
        let mut row = vec![m.to_string()];
        for (i, c) in configs.iter().enumerate() {
            let s = cell.get(&(*c, *m));
            row.push(s.map_or(String::new(), |s| {
                format!("{} ± {}", short(s.mean), short(s.half_width))
            }));
            if i > 0 {
                row.push(s.and_then(|s| s.delta).map_or(String::new(), |(d, h)| {
                    format!("{} ± {}", short(d), short(h))
                }));
            }
        }
        rows.push(row);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("(mean ± half-width of the 95% confidence interval, Student's t; differences are paired by seed)\n");
    out
}

/// Where a sweep writes: `sweep.csv` and `sweep_summary.csv` in `out`, or, for a shard,
/// `sweep-I-of-N.csv` so shards can share a directory.
pub fn csv_path(out: &Path, shard: Shard) -> PathBuf {
    if shard == Shard::ALL {
        out.join("sweep.csv")
    } else {
        out.join(format!("sweep-{}-of-{}.csv", shard.index, shard.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_ranges_lists_or_one() {
        assert_eq!(parse_seeds("1..3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1..=3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("5, 2,9").unwrap(), vec![5, 2, 9]);
        assert_eq!(parse_seeds("4").unwrap(), vec![4]);
        assert!(parse_seeds("3..1").is_err());
        assert!(parse_seeds("1,1").is_err());
        assert!(parse_seeds("a..b").is_err());
    }

    #[test]
    fn shards_split_the_list_by_position() {
        let seeds: Vec<u64> = (10..20).collect();
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.select(&seeds))
            .collect();
        all.sort();
        assert_eq!(all, seeds);
        assert_eq!(
            Shard { index: 2, count: 3 }.select(&seeds),
            vec![12, 15, 18]
        );
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
    }

    #[test]
    fn sets_edit_nested_fields_and_keep_strings_strings() {
        let mut doc: Value = serde_yaml::from_str(
            "spec:\n  nodePools:\n  - {name: n, count: 12, capacity: {cpu: \"4\"}}\n",
        )
        .unwrap();
        Set::parse("spec.nodePools[0].count=200")
            .unwrap()
            .apply(&mut doc)
            .unwrap();
        Set::parse("spec.nodePools[0].capacity.cpu=8")
            .unwrap()
            .apply(&mut doc)
            .unwrap();
        Set::parse("spec.nodePools[0].labels[\"a.b/c\"]=x")
            .unwrap()
            .apply(&mut doc)
            .unwrap();
        Set::parse("spec.schedulerConfig=kind: X")
            .unwrap()
            .apply(&mut doc)
            .unwrap();
        let pool = &doc["spec"]["nodePools"][0];
        assert_eq!(pool["count"], Value::from(200));
        assert_eq!(pool["capacity"]["cpu"], Value::from("8"));
        assert_eq!(pool["labels"]["a.b/c"], Value::from("x"));
        assert_eq!(doc["spec"]["schedulerConfig"]["kind"], Value::from("X"));
        let e = Set::parse("spec.nodePools[3].count=1")
            .unwrap()
            .apply(&mut doc)
            .unwrap_err();
        assert!(e.to_string().contains("past its end"), "{e}");
        assert!(Set::parse("spec..x=1").is_err());
        assert!(Set::parse("spec.x").is_err());
    }

    #[test]
    fn configurations_collect_their_edits_in_order() {
        let c = configurations(
            &["spec.duration=1m".into()],
            &[
                "base".into(),
                "big:spec.nodePools[0].count=20".into(),
                "big:spec.seed=3".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name.as_str(), c[0].sets.len()), ("base", 1));
        assert_eq!((c[1].name.as_str(), c[1].sets.len()), ("big", 3));
        assert!(configurations(&[], &["a b:x=1".into()]).is_err());
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        assert_eq!(t_975(1), 12.7062);
        assert!((t_975(30) - 2.0423).abs() < 1e-3);
        assert!((t_975(31) - 2.0395).abs() < 1e-3, "{}", t_975(31));
        assert!((t_975(60) - 2.0003).abs() < 1e-3, "{}", t_975(60));
        assert!((t_975(120) - 1.9799).abs() < 1e-3, "{}", t_975(120));
        assert!((t_975(100_000) - 1.96).abs() < 1e-3);
    }

    #[test]
    fn intervals_and_paired_differences() {
        let row = |c: &str, seed, x| RunRow {
            configuration: c.into(),
            seed,
            digest: "0".into(),
            values: vec![("m".into(), x)],
        };
        let rows = vec![
            row("a", 1, 1.0),
            row("a", 2, 2.0),
            row("a", 3, 3.0),
            row("b", 1, 2.0),
            row("b", 2, 3.0),
            row("b", 3, 4.0),
        ];
        let s = statistics(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].mean, 2.0);
        // sd 1, n 3: t(2) / sqrt(3).
        assert!((s[0].half_width - 4.3027 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(s[0].delta, None);
        // Every seed is exactly one better: a difference of 1 with no spread.
        assert_eq!(s[1].delta, Some((1.0, 0.0)));
        let back = parse_sweep_csv("x", &sweep_csv(&rows)).unwrap();
        assert_eq!(back, rows);
    }
}
