//! `flotilla-runtime`: the Linux runtime's own small program, and its helper binary.
//!
//! ```text
//! flotilla-runtime image import <dir-or-tar> <name:tag> [--images DIR]
//! flotilla-runtime image ls [--images DIR]
//! flotilla-runtime image rm <name:tag> [--images DIR]
//! flotilla-runtime run <pod.yaml> [--images DIR] [--state DIR]
//! ```
//!
//! `run` starts the pod's containers once (no restarts: that is the kubelet's logic), prints
//! their logs and exit codes, and removes the pod. Its first act, like any binary that uses
//! `LinuxRuntime`, is `run_helper_if_requested()`.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flotilla_controllers::kubelet::runtime::{RuntimeCommand, RuntimeEvent};
use flotilla_model::Object;
use flotilla_runtime_linux::image::{ImageConfig, ImageStore};
use flotilla_runtime_linux::{LinuxRuntime, RuntimeConfig};

fn main() {
    flotilla_runtime_linux::run_helper_if_requested();
    if let Err(e) = real_main() {
        eprintln!("flotilla-runtime: {e}");
        std::process::exit(1);
    }
}

fn take_flag(args: &mut Vec<String>, flag: &str) -> Option<String> {
    let i = args.iter().position(|a| a == flag)?;
    if i + 1 >= args.len() {
        return None;
    }
    let v = args.remove(i + 1);
    args.remove(i);
    Some(v)
}

fn real_main() -> Result<(), Box<dyn Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let images = take_flag(&mut args, "--images").map(PathBuf::from);
    let state = take_flag(&mut args, "--state").map(PathBuf::from);
    let mut config = RuntimeConfig::new("cli");
    if let Some(i) = images {
        config.image_dir = i;
    }
    if let Some(s) = state {
        config.state_dir = s;
    }
    let store = ImageStore::new(&config.image_dir);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["image", "import", src, reference] => {
            let image = store.import(src.as_ref(), reference, ImageConfig::default())?;
            println!("{} {} bytes", image.reference, image.config.size);
        }
        ["image", "ls"] => {
            for image in store.list() {
                println!("{}\t{}", image.reference, image.config.size);
            }
        }
        ["image", "rm", reference] => store.remove(reference)?,
        ["run", file] => run(config, file)?,
        _ => {
            return Err("usage: flotilla-runtime image import|ls|rm … | run <pod.yaml> [--images DIR] [--state DIR]".into())
        }
    }
    Ok(())
}

fn run(config: RuntimeConfig, file: &str) -> Result<(), Box<dyn Error>> {
    let text = std::fs::read_to_string(file)?;
    let manifests = flotilla_model::manifest::parse_str(file, &text).map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let pod = manifests
        .objects
        .into_iter()
        .find_map(|m| match m.object {
            Object::Pod(p) => Some(p),
            _ => None,
        })
        .ok_or("the file has no Pod")?;
    let mut pod = pod;
    if pod.metadata.uid.is_empty() {
        pod.metadata.uid = format!("cli-{}", std::process::id());
    }
    let uid = pod.metadata.uid.clone();
    let pod = Arc::new(pod);
    let mut runtime = LinuxRuntime::new(config)?;
    runtime.handle_command(RuntimeCommand::RunPodSandbox { pod: pod.clone() });
    for c in &pod.spec.containers {
        let env = c
            .env
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        runtime.handle_command(RuntimeCommand::StartContainer {
            pod: pod.clone(),
            container: c.name.clone(),
            init: false,
            attempt: 0,
            env,
        });
    }
    let mut pending = pod.spec.containers.len();
    let mut failed = false;
    while pending > 0 {
        for event in runtime.poll_events() {
            match &event {
                RuntimeEvent::SandboxReady { result: Err(e), .. } => return Err(e.clone().into()),
                RuntimeEvent::ContainerStarted {
                    container,
                    result: Err(e),
                    ..
                } => {
                    eprintln!("{container}: {e}");
                    pending -= 1;
                    failed = true;
                }
                RuntimeEvent::ContainerExited {
                    container,
                    exit_code,
                    oom_killed,
                    ..
                } => {
                    let log = std::fs::read_to_string(runtime.log_path(&uid, container, 0))
                        .unwrap_or_default();
                    print!("{log}");
                    let reason = if *oom_killed { " (OOMKilled)" } else { "" };
                    println!("{container}: exit code {exit_code}{reason}");
                    failed |= *exit_code != 0;
                    pending -= 1;
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    runtime.handle_command(RuntimeCommand::RemovePodSandbox { pod_uid: uid });
    runtime.poll_events();
    drop(runtime); // removes the instance's cgroups before a possible exit below
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
