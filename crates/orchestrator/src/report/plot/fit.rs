//! `fit.png`: goodness of fit of the drawn, sent and received gaps against the configured
//! distributions (ECDF and QQ panels, or the error around a fixed interval).

use arrivals::Distribution;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    CLIENT_COLOR, FONT, GRID, PlotError, SERVER_COLOR, SIZE, axis_decimals, caption_style,
    gap_range, plot_ms, short_p, title_style,
};
use crate::dataset::Dataset;
use crate::fidelity::{self, Fit};

/// Colour of the drawn intervals in `fit.png`.
const DRAWN_COLOR: RGBColor = RGBColor(160, 160, 160);

/// The ECDF of ascending `sorted` as a step line from `x_lo` to `x_hi`.
fn ecdf_steps(sorted: &[f64], x_lo: f64, x_hi: f64) -> Vec<(f64, f64)> {
    let mut steps = vec![(x_lo, 0.0)];
    let mut level = 0.0;
    for (x, f) in arrivals::gof::ecdf_points_sorted(sorted, 2000) {
        steps.push((x, level));
        steps.push((x, f));
        level = f;
    }
    steps.push((x_hi.max(steps.last().map_or(x_hi, |p| p.0)), level));
    steps
}

/// A series drawn in `fit.png`: its name, values and how it is drawn.
struct FitSeries {
    name: &'static str,
    values: Vec<f64>,
    color: RGBColor,
    width: u32,
    /// Shown on the QQ panel (the drawn intervals are not: they are what the client sent,
    /// before its lateness).
    qq: bool,
}

/// One row of `fit.png`: a client group's intervals, or (for a single group with a
/// connection process) the connection gaps.
fn fit_rows(d: &Dataset) -> Vec<(String, Distribution, Vec<FitSeries>)> {
    let mut rows = Vec::new();
    for (g, group) in d.scenario.clients.iter().enumerate() {
        rows.push((
            format!("`{}` intervals", group.label),
            group.dist,
            vec![
                FitSeries {
                    name: "drawn intervals",
                    values: d.drawn_intervals(Some(g)),
                    color: DRAWN_COLOR,
                    width: 8,
                    qq: false,
                },
                FitSeries {
                    name: "client send gaps",
                    values: d.send_gaps(Some(g)),
                    color: CLIENT_COLOR,
                    width: 4,
                    qq: true,
                },
                FitSeries {
                    name: "server data gaps",
                    values: d.data_gaps(Some(g)),
                    color: SERVER_COLOR,
                    width: 2,
                    qq: true,
                },
            ],
        ));
    }
    if let [only] = d.scenario.clients.as_slice()
        && let Some(c) = only.connect
    {
        rows.push((
            format!("`{}` connections", only.label),
            c,
            vec![
                FitSeries {
                    name: "client connect gaps",
                    values: d.connect_gaps(Some(0)),
                    color: CLIENT_COLOR,
                    width: 4,
                    qq: true,
                },
                FitSeries {
                    name: "server accept gaps",
                    values: d.connection_gaps(None),
                    color: SERVER_COLOR,
                    width: 2,
                    qq: true,
                },
            ],
        ));
    }
    rows
}

/// The size of `fit.png`: one row of panels per client group (and one for the connection
/// gaps of a single group with a connection process), at least [`SIZE`].
pub fn fit_size(d: &Dataset) -> (u32, u32) {
    let rows = fit_rows(d).len().max(1) as u32;
    (SIZE.0, (60 + 320 * rows).max(SIZE.1))
}

/// One entry of a key drawn beside a chart: a swatch, a title and a line of detail.
struct KeyEntry {
    color: RGBColor,
    /// Line width of the swatch; dashed when `dashed`.
    width: u32,
    dashed: bool,
    /// The QQ marker drawn after the line: hollow (client) or filled (server).
    marker: Option<bool>,
    title: String,
    detail: String,
}

/// Draws `entries` top-down in `area` (pixel coordinates), so no key covers data.
fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[KeyEntry],
) -> Result<(), PlotError> {
    let title = (FONT, 15).into_font().color(&BLACK);
    let detail = (FONT, 13).into_font().color(&RGBColor(70, 70, 70));
    let mut y = 30;
    for e in entries {
        let style = e.color.stroke_width(e.width.min(6));
        if e.dashed {
            for x in [4, 14] {
                area.draw(&PathElement::new(vec![(x, y), (x + 7, y)], style))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(4, y), (24, y)], style))?;
        }
        match e.marker {
            Some(true) => area.draw(&Circle::new((36, y), 5, e.color.stroke_width(2)))?,
            Some(false) => area.draw(&Circle::new((36, y), 3, e.color.filled()))?,
            None => {}
        }
        area.draw(&Text::new(e.title.clone(), (48, y - 8), title.clone()))?;
        if !e.detail.is_empty() {
            area.draw(&Text::new(e.detail.clone(), (48, y + 10), detail.clone()))?;
        }
        y += 48;
    }
    Ok(())
}

/// `fit.png`: per client group, the ECDF of what the client drew, what it sent and what the
/// server received against the configured CDF, and a QQ plot of the last two against the
/// configured quantiles (points on the diagonal follow the distribution). A fixed interval T
/// gets the ECDF of gap − T instead. A single group with a connection process gets a last
/// row for the client's connect gaps and the server's accept gaps.
pub fn draw_fit<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: measured gaps against the configured distributions",
        d.scenario.title(),
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let rows = fit_rows(d);
    let panels = area.split_evenly((rows.len().max(1), 1));
    for ((what, dist, series), panel) in rows.iter().zip(panels.iter()) {
        let panel = panel.titled(
            &format!("{what} — configured: {}", dist.describe()),
            caption_style(),
        )?;
        if dist.is_continuous() {
            draw_fit_row(&panel, dist, series)?;
        } else {
            draw_fixed_row(&panel, dist, series)?;
        }
    }
    Ok(())
}

fn draw_fit_row<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
) -> Result<(), PlotError> {
    let (left, rest) = panel.split_horizontally(SIZE.0 * 42 / 100);
    let (middle, key) = rest.split_horizontally(SIZE.0 * 32 / 100);
    let sorted: Vec<Vec<f64>> = series
        .iter()
        .map(|s| arrivals::gof::sorted(&s.values))
        .collect();
    let entries = draw_ecdf(&left, dist, series, &sorted)?;
    draw_qq(&middle, dist, series, &sorted)?;
    draw_key(&key, &entries)
}

/// Left: each series' ECDF against the configured CDF. Returns the key's entries.
fn draw_ecdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
    sorted: &[Vec<f64>],
) -> Result<Vec<KeyEntry>, PlotError> {
    let all: Vec<f64> = sorted.iter().flatten().copied().collect();
    let (lo, hi) = gap_range(dist, &all);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("gap (ms)")
        .y_desc("fraction ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(hi - lo)))
        .y_labels(6)
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let mut entries = Vec::new();
    for (s, values) in series.iter().zip(sorted) {
        let detail = match fidelity::fit(values, dist) {
            Fit::Continuous { ks, ad } => format!(
                "KS D {:.3} · p {}{}",
                ks.statistic,
                short_p(ks.p_value),
                ad.map_or_else(String::new, |a| format!(" · AD p {}", short_p(a.p_value)))
            ),
            _ => "no values".to_owned(),
        };
        chart.draw_series(LineSeries::new(
            ecdf_steps(values, lo, hi),
            s.color
                .mix(if s.width > 4 { 0.6 } else { 1.0 })
                .stroke_width(s.width),
        ))?;
        entries.push(KeyEntry {
            color: s.color,
            width: s.width,
            dashed: false,
            marker: s.qq.then_some(s.width > 2),
            title: format!("{} (n {})", s.name, values.len()),
            detail,
        });
    }
    let curve: Vec<(f64, f64)> = (0..=400)
        .map(|i| {
            let x = lo + (hi - lo) * f64::from(i) / 400.0;
            (x, dist.cdf_ms(x))
        })
        .collect();
    chart.draw_series(DashedLineSeries::new(curve, 8, 5, BLACK.stroke_width(2)))?;
    entries.push(KeyEntry {
        color: BLACK,
        width: 2,
        dashed: true,
        marker: None,
        title: "configured CDF (left)".to_owned(),
        detail: String::new(),
    });
    entries.push(KeyEntry {
        color: BLACK,
        width: 1,
        dashed: false,
        marker: None,
        title: "y = x (right): measured".to_owned(),
        detail: "quantiles equal the configured ones".to_owned(),
    });
    Ok(entries)
}

/// Middle: sample quantiles against the configured ones, on equal axes.
fn draw_qq<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
    sorted: &[Vec<f64>],
) -> Result<(), PlotError> {
    let pairs: Vec<(&FitSeries, Vec<(f64, f64)>)> = series
        .iter()
        .zip(sorted)
        .filter(|(s, _)| s.qq)
        .map(|(s, v)| {
            (
                s,
                arrivals::gof::qq_pairs_sorted(v, 400, |p| dist.quantile_ms(p)),
            )
        })
        .collect();
    let top = pairs
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|&(a, b)| [a, b]))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.05;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..top, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("configured quantile (ms)")
        .y_desc("measured quantile (ms)")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(top)))
        .y_label_formatter(&|y| format!("{y:.*}", axis_decimals(top)))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (top, top)],
        BLACK.stroke_width(1),
    ))?;
    for (s, p) in &pairs {
        let color = s.color;
        let hollow = s.width > 2;
        chart.draw_series(p.iter().map(move |&(x, y)| {
            if hollow {
                Circle::new((x, y), 5, color.stroke_width(2))
            } else {
                Circle::new((x, y), 3, color.filled())
            }
        }))?;
    }
    Ok(())
}

fn draw_fixed_row<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    dist: &Distribution,
    series: &[FitSeries],
) -> Result<(), PlotError> {
    let (left, key) = panel.split_horizontally(SIZE.0 * 68 / 100);
    let t = dist.mean_ms().unwrap_or(0.0);
    // The drawn intervals are T exactly: the configured step at 0 stands for them.
    let shown: Vec<(&FitSeries, Vec<f64>)> = series
        .iter()
        .filter(|s| s.qq)
        .map(|s| {
            let dev: Vec<f64> = s.values.iter().map(|v| v - t).collect();
            (s, arrivals::gof::sorted(&dev))
        })
        .collect();
    let lo = shown
        .iter()
        .flat_map(|(_, v)| v.first().copied())
        .fold(0.0, f64::min);
    let hi = shown
        .iter()
        .flat_map(|(_, v)| v.last().copied())
        .fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.05);
    let (lo, hi) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc(format!("gap − T (ms), T = {} ms", plot_ms(t)))
        .y_desc("fraction ≤ x")
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_labels(8)
        .x_label_formatter(&|x| {
            // A tick a rounding error below zero is zero, not "-0.00".
            let x = if x.abs() < 1e-9 { 0.0 } else { *x };
            format!("{x:.*}", axis_decimals(hi - lo))
        })
        .y_labels(6)
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    chart.draw_series(LineSeries::new(
        [(lo, 0.0), (0.0, 0.0), (0.0, 1.0), (hi, 1.0)],
        BLACK.stroke_width(2),
    ))?;
    let mut entries = Vec::new();
    for (s, dev) in &shown {
        let detail = match fidelity::fit(&s.values, dist) {
            Fit::Fixed(e) => format!(
                "|gap − T| mean {} · p99 {} · max {} ms",
                plot_ms(e.mean),
                plot_ms(e.p99),
                plot_ms(e.max)
            ),
            _ => "no values".to_owned(),
        };
        let width = s.width + 1;
        chart.draw_series(LineSeries::new(
            ecdf_steps(dev, lo, hi),
            s.color.stroke_width(width),
        ))?;
        entries.push(KeyEntry {
            color: s.color,
            width,
            dashed: false,
            marker: None,
            title: format!("{} (n {})", s.name, dev.len()),
            detail,
        });
    }
    entries.push(KeyEntry {
        color: BLACK,
        width: 2,
        dashed: false,
        marker: None,
        title: "configured: every gap exactly T".to_owned(),
        detail: String::new(),
    });
    draw_key(&key, &entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plot::png;

    #[test]
    fn fit_png_grows_with_its_rows() {
        // One group with a connection process: its intervals, then its connection gaps;
        // four groups: a taller figure.
        let (mut info, server, client) = crate::dataset::fixtures::records();
        info.scenario_text = crate::dataset::fixtures::SCENARIO.replace(
            "param = 0.2\n",
            "param = 0.2\nconnect_dist = \"e\"\nconnect_param = 5.0\n",
        );
        let d =
            Dataset::new(std::path::Path::new("x"), info.clone(), &server, &client).expect("valid");
        assert_eq!(
            fit_rows(&d).len(),
            2,
            "a connection row needs a single group"
        );
        let mut four = crate::dataset::fixtures::SCENARIO.to_owned();
        for label in ["c", "e"] {
            four.push_str(&format!(
                "[[clients]]\nlabel = \"{label}\"\nworkers = 1\nintervals = 1\ndist = \"e\"\nparam = 5.0\n"
            ));
        }
        info.scenario_text = four;
        let d = Dataset::new(std::path::Path::new("x"), info, &server, &client).expect("valid");
        assert_eq!(fit_size(&d), (1200, 60 + 4 * 320));
        let fit = png(fit_size(&d), |a| draw_fit(a, &d)).expect("renders");
        assert!(!fit.is_empty());
    }
}
