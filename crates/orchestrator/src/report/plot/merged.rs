//! `merged.png`: the server's merged data stream (every message of a run in time order) —
//! the ECDF of its gaps against the exponential law of the clients' total rate and against
//! the superposition law of the clients' streams. And `queueing.png` and
//! `superposition.png` of a load sweep: the Pollaczek–Khinchine curve with the iterative
//! server's measured waits, and the merged stream's distance to Poisson against the number
//! of streams.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::delay::mode_color;
use super::{
    CLIENT_COLOR, FONT, GRID, PlotError, SERVER_COLOR, caption_style, legend, title_style,
};
use crate::dataset::Dataset;
use crate::load::StepRuns;
use crate::scenario::Scenario;
use crate::theory::{self, Quantity};

/// `merged.png` of one run.
pub fn draw_merged<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let m = theory::merged(d);
    let title = format!(
        "{} — {} server: the merged data stream ({} gaps) against Poisson and the superposition law",
        d.scenario.title(),
        d.mode.name(),
        m.gaps.len()
    );
    let area = root.titled(&title, title_style())?;
    let sorted = arrivals::gof::sorted(&m.gaps);
    let Some(&last) = sorted.last() else {
        return Ok(());
    };
    let hi = arrivals::stats::quantile_sorted(&sorted, 0.99)
        .max(last.min(1.0))
        .max(1e-3)
        * 1.1;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("gap between consecutive messages of any connection (ms)")
        .y_desc("fraction of gaps ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let mut steps = vec![(0.0, 0.0)];
    let mut level = 0.0;
    for (x, f) in arrivals::gof::ecdf_points_sorted(&sorted, 2000) {
        if x > hi {
            break;
        }
        steps.push((x, level));
        steps.push((x, f));
        level = f;
    }
    steps.push((hi, level));
    let label = match m.vs_exponential {
        Some(k) => format!("server: merged gaps (D to exponential {:.3})", k.statistic),
        None => "server: merged gaps".to_owned(),
    };
    chart
        .draw_series(LineSeries::new(steps, SERVER_COLOR.stroke_width(3)))?
        .label(label)
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], SERVER_COLOR.stroke_width(3)));
    let grid = |f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
        (0..=400)
            .map(|i| {
                let x = hi * f64::from(i) / 400.0;
                (x, f(x))
            })
            .collect()
    };
    if let Some(r) = m.rate_per_ms {
        chart
            .draw_series(DashedLineSeries::new(
                grid(&|x| 1.0 - (-r * x).exp()),
                8,
                5,
                BLACK.stroke_width(2),
            ))?
            .label(format!("Poisson: exponential, total rate {:.1}/s", r * 1e3))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    }
    if let Some(s) = theory::superposition(d).filter(|s| s.is_continuous()) {
        let label = match m.vs_superposition {
            Some(k) => format!(
                "superposition of {} streams (D {:.3})",
                s.streams(),
                k.statistic
            ),
            None => format!("superposition of {} streams", s.streams()),
        };
        chart
            .draw_series(DashedLineSeries::new(
                grid(&|x| s.cdf_ms(x)),
                3,
                4,
                CLIENT_COLOR.stroke_width(3),
            ))?
            .label(label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], CLIENT_COLOR.stroke_width(3)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// `queueing.png` of a load sweep with an iterative server: the Pollaczek–Khinchine mean
/// wait W_q(ρ) for the service times measured (pooled over every iterative run), and each
/// step's measured mean wait (± 95 % CI over its runs) at its measured ρ.
pub fn draw_queueing<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Scenario,
    steps: &[StepRuns<'_>],
) -> Result<(), PlotError> {
    let iter_runs: Vec<Vec<&Dataset>> = steps
        .iter()
        .map(|st| {
            st.sets
                .iter()
                .flatten()
                .copied()
                .filter(|d| d.mode.is_iterative())
                .collect()
        })
        .collect();
    let service: Vec<f64> = iter_runs
        .iter()
        .flatten()
        .flat_map(|d| d.service_times(None))
        .collect();
    let squares: Vec<f64> = service.iter().map(|x| x * x).collect();
    let (Some(es), Some(es2)) = (
        arrivals::stats::mean(&service),
        arrivals::stats::mean(&squares),
    ) else {
        return Ok(());
    };
    let pk = |rho: f64| rho * es2 / (2.0 * es * (1.0 - rho));
    // Per step: measured ρ (mean over runs), measured mean wait ± CI.
    let mut points = Vec::new();
    for runs in &iter_runs {
        let rhos: Vec<f64> = runs.iter().filter_map(|d| theory::inputs(d).rho).collect();
        let waits: Vec<f64> = runs
            .iter()
            .filter_map(|d| {
                theory::theory(d)
                    .predictions
                    .iter()
                    .find(|p| p.quantity == Quantity::MeanWait)?
                    .measured
            })
            .collect();
        if let (Some(rho), Some((w, h))) = (
            arrivals::stats::mean(&rhos),
            arrivals::gof::mean_ci95(&waits),
        ) {
            points.push((rho, w, h.unwrap_or(0.0)));
        }
    }
    let title = format!(
        "{}: iterative server as an M/G/1 queue — mean wait against utilisation",
        s.name
    );
    let area = root.titled(&title, title_style())?;
    let rho_max = points.iter().map(|p| p.0).fold(0.9, f64::max).min(0.97);
    let y_max = points
        .iter()
        .map(|p| p.1 + p.2)
        .chain([pk(rho_max)])
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("utilisation ρ = λE[S] (measured)")
        .y_desc("mean wait, connect → accept (ms)")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let curve: Vec<(f64, f64)> = (0..=200)
        .map(|i| rho_max * f64::from(i) / 200.0)
        .map(|r| (r, pk(r)))
        .collect();
    chart
        .draw_series(LineSeries::new(curve, BLACK.stroke_width(2)))?
        .label(format!(
            "Pollaczek–Khinchine W_q(ρ), E[S] = {es:.1} ms, E[S²] = {es2:.0} ms²"
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    let color = mode_color(arrivals::Mode::Iter);
    chart
        .draw_series(
            points
                .iter()
                .map(|&(r, w, _)| Circle::new((r, w), 6, color.filled())),
        )?
        .label("measured mean wait (± 95 % CI over the runs)")
        .legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
    chart.draw_series(points.iter().map(|&(r, w, h)| {
        PathElement::new([(r, (w - h).max(0.0)), (r, w + h)], color.stroke_width(2))
    }))?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// `superposition.png` of a load sweep over `workers`: per concurrent mode, the KS distance
/// of the merged data gaps to the exponential law against the number of streams, next to
/// the distance the superposition law predicts.
pub fn draw_superposition<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Scenario,
    steps: &[StepRuns<'_>],
) -> Result<(), PlotError> {
    let title = format!(
        "{}: the merged data stream approaches Poisson as streams are added",
        s.name
    );
    let area = root.titled(&title, title_style())?;
    let mut predicted = Vec::new();
    let mut measured: Vec<(arrivals::Mode, Vec<(f64, f64)>)> = Vec::new();
    for st in steps {
        for d in st.sets.iter().flatten().filter(|d| !d.mode.is_iterative()) {
            let m = theory::merged(d);
            let n = d.scenario.expected_connections() as f64;
            if let Some(p) = m.predicted_d
                && !predicted.iter().any(|(x, _)| *x == n)
            {
                predicted.push((n, p));
            }
            if let Some(k) = m.vs_exponential {
                match measured.iter_mut().find(|(mode, _)| *mode == d.mode) {
                    Some((_, v)) => v.push((n, k.statistic)),
                    None => measured.push((d.mode, vec![(n, k.statistic)])),
                }
            }
        }
    }
    predicted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x_hi = predicted
        .iter()
        .map(|p| p.0)
        .chain(measured.iter().flat_map(|(_, v)| v.iter().map(|p| p.0)))
        .fold(1.0, f64::max);
    let y_hi = predicted
        .iter()
        .map(|p| p.1)
        .chain(measured.iter().flat_map(|(_, v)| v.iter().map(|p| p.1)))
        .fold(0.05, f64::max)
        * 1.2;
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "KS distance of the merged data gaps to an exponential of the total rate",
            caption_style(),
        )
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((0.8..x_hi * 1.25).log_scale(), 0.0..y_hi)?;
    chart
        .configure_mesh()
        .x_desc("client streams merged (workers, log scale)")
        .y_desc("KS D")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    chart
        .draw_series(DashedLineSeries::new(
            predicted.clone(),
            8,
            5,
            BLACK.stroke_width(3),
        ))?
        .label("predicted: distance of the superposition law to the exponential")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(3)));
    for (mode, mut v) in measured {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = mode_color(mode);
        chart
            .draw_series(LineSeries::new(v.clone(), color.stroke_width(3)))?
            .label(format!("measured, {} server", mode.name()))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        chart.draw_series(v.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}
