//! The command line: `orchestrator run NAME|PATH... [--all]`, `list` and `report`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::binaries::Binaries;
use crate::hosts::Sites;
use crate::report;
use crate::results::{self, Layout};
use crate::run::{self, RunContext, RunError, run_mode};
use crate::runinfo::Host;
use crate::scenario::{Scenario, ScenarioError};

/// Runs arrivals scenarios (a server and its client groups), records their event logs and
/// renders CSV tables, PNG plots and markdown reports.
#[derive(Debug, Parser)]
#[command(name = "orchestrator", version)]
pub struct Cli {
    /// Folder of the scenario files (NAME resolves to DIR/NAME.toml)
    #[arg(long, global = true, value_name = "DIR", default_value = "experiments")]
    pub experiments: PathBuf,
    /// Folder of the recorded results
    #[arg(long, global = true, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Folder of the rendered reports
    #[arg(long, global = true, value_name = "DIR", default_value = "report")]
    pub report: PathBuf,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run scenarios, record their results and render their reports
    Run {
        /// Scenario names (experiments/NAME.toml) or paths to scenario files
        #[arg(
            value_name = "NAME|PATH",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        scenarios: Vec<String>,
        /// Run every scenario in the experiments folder
        #[arg(long)]
        all: bool,
    },
    /// List the scenarios with their descriptions
    List,
    /// Re-render every report and the derived CSV tables from the recorded results
    Report,
}

/// Runs the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let layout = Layout {
        results: cli.results.clone(),
        report: cli.report.clone(),
    };
    // Scenarios with many workers need a socket each in the server and a client: take what
    // the hard limit allows before validating them (run.json records the limit in force).
    arrivals::limits::raise_open_file_limit();
    match cli.command {
        Cmd::List => list(&cli.experiments),
        Cmd::Report => render(&layout),
        Cmd::Run { scenarios, all } => {
            let paths = if all {
                scenario_files(&cli.experiments)?
            } else {
                scenarios
                    .iter()
                    .map(|s| resolve(&cli.experiments, s))
                    .collect::<Result<_, _>>()?
            };
            run_all(&layout, &paths)
        }
    }
}

/// Every `*.toml` in `dir`, by name.
fn scenario_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the experiments folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no scenario files (*.toml) in {}", dir.display());
    }
    Ok(files)
}

/// `NAME` → `<experiments>/NAME.toml`; anything with a `/` or `.toml` is a path.
fn resolve(experiments: &Path, arg: &str) -> Result<PathBuf, ScenarioError> {
    if arg.ends_with(".toml") || arg.contains('/') {
        return Ok(PathBuf::from(arg));
    }
    let path = experiments.join(format!("{arg}.toml"));
    if path.is_file() {
        return Ok(path);
    }
    let available = scenario_files(experiments)
        .map(|files| {
            files
                .iter()
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "none".into());
    Err(ScenarioError::UnknownName {
        name: arg.to_owned(),
        path,
        available,
    })
}

fn list(experiments: &Path) -> anyhow::Result<()> {
    let mut bad = 0;
    for path in scenario_files(experiments)? {
        match Scenario::load(&path) {
            Ok(s) => {
                let modes: Vec<&str> = s.modes.iter().map(|m| m.name()).collect();
                let mut modes = modes.join(",");
                if s.repeat > 1 {
                    modes.push_str(&format!(" ×{}", s.repeat));
                }
                println!("{:<24} {:<22} {}", s.name, modes, s.description);
            }
            Err(e) => {
                bad += 1;
                eprintln!("Error: {e}");
            }
        }
    }
    if bad > 0 {
        bail!("{bad} scenario file(s) are invalid");
    }
    Ok(())
}

fn render(layout: &Layout) -> anyhow::Result<()> {
    let done = report::render_all(layout)?;
    for dir in &done.unfinished {
        eprintln!(
            "skipped {}: no run.json (its run did not finish)",
            dir.display()
        );
    }
    for name in &done.scenarios {
        println!(
            "rendered {} → {}",
            layout.scenario_results(name).display(),
            layout
                .scenario_report(name)
                .join(results::README_MD)
                .display()
        );
    }
    println!(
        "index: {}",
        layout.report.join(results::README_MD).display()
    );
    if let Some((name, e)) = done.failed.first() {
        for (n, e) in &done.failed[1..] {
            eprintln!("Error: {n}: {e}");
        }
        bail!("cannot render {name}: {e}");
    }
    Ok(())
}

fn run_all(layout: &Layout, paths: &[PathBuf]) -> anyhow::Result<()> {
    // Validate everything before anything starts.
    let mut scenarios: Vec<(Scenario, String)> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match Scenario::load(path) {
            Ok(s) if scenarios.iter().any(|(o, _)| o.name == s.name) => {
                errors.push(format!("scenario `{}` is given twice", s.name));
            }
            // What only this machine can tell (root, netem), before anything starts.
            Ok(s) => match crate::hosts::preflight(&s, path) {
                Ok(()) => scenarios.push((s, path.display().to_string())),
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let bins = Binaries::beside_current_exe()?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .context("cannot install the Ctrl-C handler")?;
    }
    let host = Host::probe(Path::new("."), &bins);
    let mut failed = Vec::new();
    for (s, file) in &scenarios {
        if interrupted.load(Ordering::SeqCst) {
            failed.push((s.name.clone(), "not run: interrupted".to_owned()));
            continue;
        }
        // Its namespaces live as long as `sites`: torn down after the scenario's runs, also
        // when one fails or Ctrl-C interrupts it.
        let sites = match Sites::set_up(s) {
            Ok(sites) => sites,
            Err(e) => {
                let e = format!("cannot set up its hosts: {e}");
                if scenarios.len() > 1 {
                    eprintln!("Error: {}: {e}", s.name);
                }
                failed.push((s.name.clone(), e));
                continue;
            }
        };
        let ctx = RunContext {
            layout,
            bins: &bins,
            host: &host,
            scenario_file: file.clone(),
            interrupted: Arc::clone(&interrupted),
            sites: &sites,
        };
        if let Err(e) = run_scenario(s, &ctx) {
            if scenarios.len() > 1 {
                eprintln!("Error: {}: {e:#}", s.name);
            }
            failed.push((s.name.clone(), format!("{e:#}")));
        }
    }
    let index = report::write_index_of_all(layout)?;
    println!(
        "index: {}",
        layout.report.join(results::README_MD).display()
    );
    for (name, e) in &index.failed {
        eprintln!("warning: {name} left out of the index: {e}");
    }
    match failed.as_slice() {
        [] => Ok(()),
        [(name, e)] => bail!("scenario {name} failed: {e}"),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
            bail!(
                "{} of {} scenarios failed: {}",
                many.len(),
                scenarios.len(),
                names.join(", ")
            )
        }
    }
}

fn run_scenario(s: &Scenario, ctx: &RunContext<'_>) -> anyhow::Result<()> {
    let started = Instant::now();
    results::remove_dir(&ctx.layout.scenario_results(&s.name))?;
    results::remove_dir(&ctx.layout.scenario_report(&s.name))?;
    let steps = s.steps();
    let mut failed = Vec::new();
    // A load sweep's steps outermost, from the first value to the last; within a step,
    // repeats outermost: every mode's k-th run happens before any mode's (k+1)-th, so a
    // slow spell of the host does not land on one mode only.
    for step in &steps {
        for run in 1..=s.repeat {
            for &mode in &s.modes {
                run_one(step, mode, run, ctx, &mut failed)?;
            }
        }
    }
    let recorded = results::discover_scenario(&ctx.layout.scenario_results(&s.name))
        .with_context(|| format!("{}: the runs left no run.json", s.name))?;
    report::render_scenario(ctx.layout, &recorded)?;
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} runs failed ({}); the others are recorded and reported",
            failed.len(),
            steps.len() * s.repeat as usize * s.modes.len(),
            failed.join(", ")
        );
    }
    println!(
        "{}: done in {:.1} s → {}",
        s.name,
        started.elapsed().as_secs_f64(),
        ctx.layout
            .scenario_report(&s.name)
            .join(results::README_MD)
            .display()
    );
    Ok(())
}

/// Runs `s` (a scenario, or one step of a load sweep) in `mode`, run `run`, and prints
/// what it saw; a run that fails is recorded as failed (with why) and added to `failed`,
/// and the caller goes on. Only an interruption ends the scenario.
fn run_one(
    s: &Scenario,
    mode: arrivals::Mode,
    run: u32,
    ctx: &RunContext<'_>,
    failed: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut which = format!("mode {mode}");
    if let (Some(load), Some(i)) = (&s.load, s.step) {
        which = format!("{}, {which}", load.describe(i));
    }
    if s.repeat > 1 {
        which = format!("{which}, run {run} of {}", s.repeat);
    }
    let r = match run_mode(s, mode, run, ctx) {
        Ok(r) => r,
        Err(e @ RunError::Interrupted) => return Err(e).context(which),
        Err(e) => {
            // The run is marked failed where its partial logs are, and the next one goes on.
            let reason = format!("{e}");
            let dir = run::record_failure(s, mode, run, ctx, &reason)?;
            eprintln!(
                "Error: {} ({which}) failed, its partial logs are kept in {}: {reason}",
                s.name,
                dir.display()
            );
            failed.push(which);
            return Ok(());
        }
    };
    let mut which = r.mode.to_string();
    if let (Some(load), Some(i)) = (&s.load, s.step) {
        which = format!("{}, {which}", load.describe(i));
    }
    if s.repeat > 1 {
        which = format!("{which}, run {}/{}", r.run, s.repeat);
    }
    println!(
        "{} ({which}): {} connections, {} messages in {:.1} s; the server printed {} — equal to its event log",
        s.name,
        r.connections,
        r.messages,
        r.duration.as_secs_f64(),
        r.printed.join(" / "),
    );
    Ok(())
}
