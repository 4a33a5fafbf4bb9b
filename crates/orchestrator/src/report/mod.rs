//! Rendering: from recorded runs to the derived CSV tables (in `results/`) and the plots
//! and markdown pages (in `report/`). The formatters in `csv`, `plot` and `markdown` are
//! pure; this module hands their bytes to [`crate::results`] to write.

mod csv;
mod figures;
mod format;
mod markdown;
mod plot;

use std::path::{Path, PathBuf};

use self::figures::Draw;
use crate::dataset::Dataset;
use crate::results::{self, Layout, Recorded, ResultsError};

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Csv(#[from] csv::CsvError),
    #[error("{path}: {source}")]
    Plot {
        path: std::path::PathBuf,
        source: plot::PlotError,
    },
}

/// Writes the four CSV tables of a run into its results folder.
pub fn write_tables(d: &Dataset, dir: &Path) -> Result<(), ReportError> {
    results::write(&dir.join(results::CONNECTIONS_CSV), &csv::connections(d)?)?;
    results::write(&dir.join(results::MESSAGES_CSV), &csv::messages(d)?)?;
    results::write(&dir.join(results::SUMMARY_CSV), &csv::summary(d)?)?;
    results::write(&dir.join(results::DISTORTION_CSV), &csv::distortion(d)?)?;
    results::write(&dir.join(results::THEORY_CSV), &csv::theory(d)?)?;
    Ok(())
}

fn write_png<F>(path: &Path, size: (u32, u32), draw: F) -> Result<(), ReportError>
where
    F: FnOnce(
        &plotters::drawing::DrawingArea<
            plotters::backend::BitMapBackend<'_>,
            plotters::coord::Shift,
        >,
    ) -> Result<(), plot::PlotError>,
{
    let bytes = plot::png(size, draw).map_err(|source| ReportError::Plot {
        path: path.to_owned(),
        source,
    })?;
    results::write(path, &bytes)?;
    Ok(())
}

/// Writes a run's plots and page into `report_dir`.
pub fn write_run_report(
    d: &Dataset,
    results_dir: &Path,
    report_dir: &Path,
) -> Result<(), ReportError> {
    results::create_dir(report_dir)?;
    for f in figures::FIGURES {
        if let Draw::Run { size, draw } = f.draw {
            write_png(&report_dir.join(f.file), size(d), |a| draw(a, d))?;
        }
    }
    let links = markdown::Links {
        results: Layout::link(report_dir, results_dir),
    };
    results::write(
        &report_dir.join(results::README_MD),
        markdown::run_page(d, &links).as_bytes(),
    )?;
    Ok(())
}

/// Re-renders one recorded scenario: tables, per-run reports, each repeated mode's page
/// across its runs, and a sweep's comparison. Returns its loaded runs (per mode) for the
/// index.
pub fn render_scenario(
    layout: &Layout,
    recorded: &Recorded,
) -> Result<Vec<Vec<Dataset>>, ReportError> {
    if !recorded.steps.is_empty() {
        return render_load_sweep(layout, recorded);
    }
    let report_root = layout.scenario_report(&recorded.name);
    results::remove_dir(&report_root)?;
    let mut sets = Vec::new();
    for set in &recorded.sets {
        let mut runs = Vec::new();
        for (k, dir) in &set.runs {
            let info = results::read_run_info(dir)?;
            if let Some(reason) = &info.failed {
                let report_dir = layout.run_report(&recorded.name, info.mode, recorded.sweep, *k);
                let link = Layout::link(&report_dir, dir);
                results::write(
                    &report_dir.join(results::README_MD),
                    failed_page(&info, reason, &link).as_bytes(),
                )?;
                continue;
            }
            let d = results::load_logs(dir, info)?;
            write_tables(&d, dir)?;
            let report_dir = layout.run_report(&recorded.name, d.mode, recorded.sweep, *k);
            write_run_report(&d, dir, &report_dir)?;
            runs.push(d);
        }
        if set.repeated()
            && let Some(first) = runs.first()
        {
            let refs: Vec<&Dataset> = runs.iter().collect();
            let a = markdown::AcrossRuns::of(&refs);
            results::write(
                &set.dir.join(results::SUMMARY_RUNS_CSV),
                &csv::summary_runs(&a.summary, &a.distortion)?,
            )?;
            let report_dir = layout.mode_report(&recorded.name, first.mode, recorded.sweep);
            let link = Layout::link(&report_dir, &set.dir);
            results::write(
                &report_dir.join(results::README_MD),
                markdown::repeat_page(&refs, &link).as_bytes(),
            )?;
        }
        sets.push(runs);
    }
    let twin = twin_section(layout, recorded, &sets)?;
    if !recorded.sweep
        && let Some(twin) = &twin
        && let Some(d) = sets.first().and_then(|r| r.first())
    {
        // A single run: the comparison goes at the end of its page.
        let page = layout
            .run_report(&recorded.name, d.mode, false, None)
            .join(results::README_MD);
        let mut text = std::fs::read_to_string(&page).unwrap_or_default();
        text.push_str(twin);
        results::write(&page, text.as_bytes())?;
    }
    if recorded.sweep && sets.iter().all(Vec::is_empty) {
        // Every run failed (a load sweep's step that could not run): say so, and where.
        results::write(
            &report_root.join(results::README_MD),
            all_failed_page(recorded).as_bytes(),
        )?;
    } else if recorded.sweep {
        let refs: Vec<Vec<&Dataset>> = sets.iter().map(|r| r.iter().collect()).collect();
        for f in figures::FIGURES {
            if let Draw::Sweep(draw) = f.draw {
                write_png(&report_root.join(f.file), plot::SIZE, |a| draw(a, &refs))?;
            }
        }
        let link = Layout::link(&report_root, &layout.scenario_results(&recorded.name));
        results::write(
            &report_root.join(results::README_MD),
            (markdown::sweep_page(&refs, &link) + twin.as_deref().unwrap_or("")).as_bytes(),
        )?;
    }
    Ok(sets)
}

/// A load sweep: each step rendered as a sweep of its own below the scenario's folders,
/// then `load.csv`, `load.png`, `delay.png` and the sweep's page. Returns every step's runs
/// (per step and mode) for the index.
fn render_load_sweep(
    layout: &Layout,
    recorded: &Recorded,
) -> Result<Vec<Vec<Dataset>>, ReportError> {
    let report_root = layout.scenario_report(&recorded.name);
    results::remove_dir(&report_root)?;
    let below = layout.below(&recorded.name);
    let mut rendered = Vec::new();
    for (value, step) in &recorded.steps {
        let sets = render_scenario(&below, step)?;
        let mut failed = Vec::new();
        for set in &step.sets {
            for (_, dir) in &set.runs {
                let info = results::read_run_info(dir)?;
                if let Some(why) = info.failed {
                    failed.push((info.mode, why));
                }
            }
        }
        rendered.push((*value, step.name.clone(), sets, failed));
    }
    let steps: Vec<crate::load::StepRuns<'_>> = rendered
        .iter()
        .map(|(value, folder, sets, failed)| crate::load::StepRuns {
            value: *value,
            folder: folder.clone(),
            sets: sets.iter().map(|r| r.iter().collect()).collect(),
            failed: failed.clone(),
        })
        .collect();
    let first = steps
        .iter()
        .flat_map(|s| s.sets.iter().flatten())
        .next()
        .copied();
    let results_dir = layout.scenario_results(&recorded.name);
    let link = Layout::link(&report_root, &results_dir);
    let (points, knees, unit, queueing, superposition) =
        match first.and_then(|d| Some((d, d.scenario.load.as_ref()?))) {
            Some((d, load)) => {
                let unit = crate::load::Unit::of(load.key);
                let points = crate::load::points(&d.scenario, &steps, unit);
                let knees = crate::load::knees(&points, &d.scenario.modes);
                results::write(
                    &results_dir.join(results::LOAD_CSV),
                    &csv::load(load.key.name(), unit, &points, &knees)?,
                )?;
                write_png(&report_root.join("load.png"), plot::LOAD_SIZE, |a| {
                    plot::draw_load(a, &d.scenario, &points, &knees, unit)
                })?;
                write_png(&report_root.join("delay.png"), plot::LOAD_SIZE, |a| {
                    plot::draw_delay_steps(a, &d.scenario, &steps)
                })?;
                let queueing = unit == crate::load::Unit::Connections
                    && d.scenario.modes.iter().any(|m| m.is_iterative());
                if queueing {
                    write_png(&report_root.join("queueing.png"), plot::SIZE, |a| {
                        plot::draw_queueing(a, &d.scenario, &steps)
                    })?;
                }
                let superposition = load.key == crate::scenario::SweepKey::Workers
                    && d.scenario.modes.iter().any(|m| !m.is_iterative());
                if superposition {
                    write_png(&report_root.join("superposition.png"), plot::SIZE, |a| {
                        plot::draw_superposition(a, &d.scenario, &steps)
                    })?;
                }
                (points, knees, unit, queueing, superposition)
            }
            None => (
                Vec::new(),
                Vec::new(),
                crate::load::Unit::Messages,
                false,
                false,
            ),
        };
    let page = markdown::load_page(&markdown::LoadPage {
        first,
        name: &recorded.name,
        steps: &steps,
        points: &points,
        knees: &knees,
        unit,
        results_link: &link,
        queueing,
        superposition,
    });
    results::write(&report_root.join(results::README_MD), page.as_bytes())?;
    drop(steps);
    Ok(rendered
        .into_iter()
        .flat_map(|(_, _, sets, _)| sets)
        .collect())
}

/// The page of a sweep (a load sweep's step) whose every run failed.
fn all_failed_page(recorded: &Recorded) -> String {
    let mut out = format!("# {}: every run failed\n\n", recorded.name);
    for set in &recorded.sets {
        for (_, dir) in &set.runs {
            if let Ok(info) = results::read_run_info(dir) {
                let why = info.failed.unwrap_or_default();
                out.push_str(&format!("- `{}`: {why}\n", info.mode));
            }
        }
    }
    out
}

/// The comparison with the scenario's loopback twin (`loopback_twin`), from the twin's
/// recorded results; `None` without a twin. A twin not recorded yet is said so on the page.
fn twin_section(
    layout: &Layout,
    recorded: &Recorded,
    sets: &[Vec<Dataset>],
) -> Result<Option<String>, ReportError> {
    let Some(name) = sets
        .iter()
        .flatten()
        .next()
        .and_then(|d| d.scenario.placement.loopback_twin.clone())
    else {
        return Ok(None);
    };
    let report_root = layout.scenario_report(&recorded.name);
    let twin_dir = layout.scenario_results(&name);
    let mut twin: Vec<Vec<Dataset>> = Vec::new();
    if let Some(r) = results::discover_scenario(&twin_dir) {
        for set in &r.sets {
            let mut runs = Vec::new();
            for (_, dir) in &set.runs {
                let info = results::read_run_info(dir)?;
                if info.failed.is_none() {
                    runs.push(results::load_logs(dir, info)?);
                }
            }
            twin.push(runs);
        }
    }
    let hosts: Vec<Vec<&Dataset>> = sets.iter().map(|r| r.iter().collect()).collect();
    let twin: Vec<Vec<&Dataset>> = twin.iter().map(|r| r.iter().collect()).collect();
    let link = Layout::link(
        &report_root,
        &layout.scenario_report(&name).join(results::README_MD),
    );
    Ok(Some(markdown::twin_section(&hosts, &twin, &link)))
}

/// The page of a run that failed: why, and where its partial logs are.
fn failed_page(info: &crate::runinfo::RunInfo, reason: &str, link: &str) -> String {
    let run = if info.run > 1 || info.scenario_text.contains("repeat") {
        format!(", run {}", info.run)
    } else {
        String::new()
    };
    format!(
        "# {} — mode `{}`{run}: failed\n\n\
         This run did not complete: {reason}\n\n\
         Its partial logs are kept in [{link}]({link}); nothing is drawn from them, and the \
         scenario's other runs are reported without it.\n",
        info.scenario, info.mode
    )
}

/// Writes `report/README.md` from every recorded scenario's runs.
pub fn write_index(
    layout: &Layout,
    scenarios: &[(String, Vec<Vec<Dataset>>)],
) -> Result<(), ReportError> {
    let entries: Vec<markdown::IndexEntry<'_>> = scenarios
        .iter()
        .map(|(name, sets)| markdown::IndexEntry {
            name: name.clone(),
            sets: sets.iter().map(|r| r.iter().collect()).collect(),
        })
        .collect();
    let link = Layout::link(&layout.report, &layout.results);
    results::write(
        &layout.report.join(results::README_MD),
        markdown::index_page(&entries, &link).as_bytes(),
    )?;
    Ok(())
}

/// What a pass over `results/` did.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Scenarios rendered (or, for the index only, loaded).
    pub scenarios: Vec<String>,
    /// Folders without a finished run.
    pub unfinished: Vec<PathBuf>,
    /// Scenarios that failed, with why.
    pub failed: Vec<(String, ReportError)>,
}

/// Re-renders every recorded scenario (tables, plots, pages) and the index. A scenario
/// that fails is reported in the result; the others are still rendered.
pub fn render_all(layout: &Layout) -> Result<Rendered, ReportError> {
    pass(layout, |r| render_scenario(layout, r))
}

/// Rewrites only the index, from every recorded scenario.
pub fn write_index_of_all(layout: &Layout) -> Result<Rendered, ReportError> {
    pass(layout, |r| {
        // A load sweep's steps in order, each with its modes' runs.
        let sets = r
            .sets
            .iter()
            .chain(r.steps.iter().flat_map(|(_, step)| step.sets.iter()));
        sets.map(|set| {
            set.runs
                .iter()
                .filter(|(_, dir)| {
                    results::read_run_info(dir).is_ok_and(|info| info.failed.is_none())
                })
                .map(|(_, dir)| results::load_run(dir).map_err(ReportError::from))
                .collect()
        })
        .collect()
    })
}

fn pass<F>(layout: &Layout, mut each: F) -> Result<Rendered, ReportError>
where
    F: FnMut(&Recorded) -> Result<Vec<Vec<Dataset>>, ReportError>,
{
    let (recorded, unfinished) = results::discover(&layout.results)?;
    let mut out = Rendered {
        unfinished,
        ..Rendered::default()
    };
    let mut all = Vec::new();
    for r in &recorded {
        match each(r) {
            Ok(runs) => {
                out.scenarios.push(r.name.clone());
                all.push((r.name.clone(), runs));
            }
            Err(e) => out.failed.push((r.name.clone(), e)),
        }
    }
    write_index(layout, &all)?;
    Ok(out)
}
