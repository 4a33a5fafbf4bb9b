//! The PNG plots. Each `draw_*` function draws one figure on a drawing area it is given;
//! [`png`] renders a figure into PNG bytes with the embedded DejaVu Sans font, so plots
//! render on machines without system fonts.

use std::sync::Once;

use arrivals::Distribution;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::dataset::Dataset;

/// Width and height of every figure, in pixels.
pub const SIZE: (u32, u32) = (1200, 700);

const FONT: &str = "sans-serif";
const GRID: RGBColor = RGBColor(232, 232, 232);

/// Colours of the client groups, in scenario order (Tableau 10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];
const UNMATCHED_COLOR: RGBColor = RGBColor(110, 110, 110);

/// A figure could not be drawn or encoded.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    #[error("cannot encode the PNG: {0}")]
    Encode(#[from] png::EncodingError),
    #[error("the embedded DejaVu Sans font was refused by plotters")]
    Font,
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self::Draw(e.to_string())
    }
}

/// The colour of client group `g`.
pub fn group_color(g: Option<usize>) -> RGBColor {
    g.map_or(UNMATCHED_COLOR, |g| PALETTE[g % PALETTE.len()])
}

/// Registers DejaVu Sans as plotters' `sans-serif` (once per process).
fn register_font() -> Result<(), PlotError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| PlotError::Font);
    });
    result
}

/// Renders a figure of `size` drawn by `draw` and returns the PNG file's bytes.
pub fn png<F>(size: (u32, u32), draw: F) -> Result<Vec<u8>, PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    register_font()?;
    let (w, h) = size;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

fn title_style() -> TextStyle<'static> {
    (FONT, 24).into_font().color(&BLACK)
}

fn caption_style() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&BLACK)
}

/// A value in milliseconds with a precision that suits its size.
pub fn fmt_ms(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Decimals for the tick labels of a linear axis spanning `span`.
fn axis_decimals(span: f64) -> usize {
    match span {
        s if s >= 50.0 => 0,
        s if s >= 5.0 => 1,
        s if s >= 0.5 => 2,
        _ => 3,
    }
}

/// The legend box every chart uses.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.6))
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

/// `timeline.png`: one bar per connection from accept to close, a dot per message.
pub fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let n = d.connections.len();
    let title = format!(
        "{} — {}: connections over time (at most {} open at once)",
        d.scenario.name,
        d.mode.server_name(),
        d.max_concurrent()
    );
    let area = root.titled(&title, title_style())?;
    if n == 0 {
        area.draw_text("no connections were recorded", &caption_style(), (40, 40))?;
        return Ok(());
    }
    let end = |c: &crate::dataset::Connection| c.close_ms.unwrap_or(d.end_ms);
    let last_ms = d
        .connections
        .iter()
        .map(end)
        .chain(d.messages.iter().map(|m| m.recv_ms))
        .fold(0.0, f64::max);
    let x_max = (last_ms / 1e3 * 1.03).max(0.001);
    let rows = n as f64;
    // Row of the i-th accepted connection: the first is on top.
    let row = |i: usize| rows - i as f64;
    // Empty rows above the first connection leave room for the legend.
    let groups = d.scenario.clients.len();
    let unmatched = d.connections.iter().any(|c| c.group.is_none());
    let entries = groups + usize::from(unmatched) + 2;
    let legend_px = 22.0 * entries as f64 + 30.0;
    let plot_px = (f64::from(area.dim_in_pixel().1) - 85.0).max(legend_px + 50.0);
    let extra = (legend_px * (rows + 0.2) / (plot_px - legend_px))
        .ceil()
        .max(0.6);
    let mut chart = ChartBuilder::on(&area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(95)
        .build_cartesian_2d(0.0..x_max, 0.4..rows + 0.6 + extra)?;
    let labels: Vec<String> = d
        .connections
        .iter()
        .map(|c| match c.worker {
            Some(w) => format!("#{} w{w}", c.conn),
            None => format!("#{}", c.conn),
        })
        .collect();
    let y_fmt = |y: &f64| {
        let r = y.round();
        if (y - r).abs() > 1e-6 || r < 1.0 || r > rows {
            return String::new();
        }
        labels.get((rows - r) as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("time since the first accept (s)")
        .y_desc("connection (accept order), client worker")
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        // One label per row (a tick step of 1) while the rows fit.
        .y_labels(((rows + 0.6 + extra).ceil() as usize + 2).min(60))
        .y_label_formatter(&y_fmt)
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;

    let mut keys: Vec<Option<usize>> = (0..groups).map(Some).collect();
    if unmatched {
        keys.push(None);
    }
    for g in keys {
        let color = group_color(g);
        let bars = d
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == g)
            .map(|(i, c)| {
                let y = row(i);
                Rectangle::new(
                    [(c.accept_ms / 1e3, y - 0.32), (end(c) / 1e3, y + 0.32)],
                    color.mix(0.35).filled(),
                )
            });
        chart
            .draw_series(bars)?
            .label(d.label(g).to_owned())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.5).filled())
            });
        let outlines = d
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.group == g)
            .map(|(i, c)| {
                let y = row(i);
                Rectangle::new(
                    [(c.accept_ms / 1e3, y - 0.32), (end(c) / 1e3, y + 0.32)],
                    color.stroke_width(1),
                )
            });
        chart.draw_series(outlines)?;
    }
    let index: std::collections::BTreeMap<u64, usize> = d
        .connections
        .iter()
        .enumerate()
        .map(|(i, c)| (c.conn, i))
        .collect();
    let dots = d.messages.iter().filter_map(|m| {
        let i = *index.get(&m.conn)?;
        let color = group_color(m.group);
        Some(Circle::new(
            (m.recv_ms / 1e3, row(i)),
            4,
            ShapeStyle::from(&color).filled(),
        ))
    });
    chart
        .draw_series(dots)?
        .label("message received")
        .legend(|(x, y)| Circle::new((x + 9, y), 4, BLACK.filled()));
    chart
        .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
        .label("connection open (accept → close)")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

/// A histogram's bins over `[lo, hi]` as `(left, right, density per ms)`.
fn density_bins(values: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64, f64)> {
    let n = values.len();
    if n == 0 || hi <= lo {
        return Vec::new();
    }
    let bins = ((2.0 * (n as f64).sqrt()).ceil() as usize).clamp(8, 40);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let b = ((v - lo) / width).floor();
        if b >= 0.0 {
            let b = (b as usize).min(bins - 1);
            counts[b] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let left = lo + i as f64 * width;
            (left, left + width, c as f64 / (n as f64 * width))
        })
        .collect()
}

/// The x range a panel shows: all observed gaps and the bulk of the configured distribution.
fn gap_range(dist: &Distribution, gaps: &[f64]) -> (f64, f64) {
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    if dist.is_continuous() {
        // Uniform: its whole support; unbounded families: all but the last 0.5 %.
        let support = match dist.kind() {
            arrivals::DistKind::Uniform => dist.param() * 1e3,
            _ => dist.quantile_ms(0.995),
        };
        (0.0, max.max(support).max(1e-3))
    } else {
        let t = dist.param() * 1e3;
        let (lo, hi) = (min.min(t), max.max(t));
        let pad = (0.15 * (hi - lo)).max(0.02 * t).max(1.0);
        ((lo - pad).max(0.0), hi + pad)
    }
}

/// `data-gaps.png`: per client group, the observed data gaps as a density histogram with
/// the configured distribution overlaid (a density curve, or a line at T if fixed).
pub fn draw_data_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: data gaps per client group, observed vs configured",
        d.scenario.name,
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let k = d.scenario.clients.len().max(1);
    let (rows, cols) = match k {
        1 | 2 => (1, k),
        3 | 4 => (2, 2),
        _ => (k.div_ceil(3), 3),
    };
    let panels = area.split_evenly((rows, cols));
    for (g, (group, panel)) in d.scenario.clients.iter().zip(panels.iter()).enumerate() {
        let gaps = d.data_gaps(Some(g));
        let color = group_color(Some(g));
        let caption = format!(
            "{}: {} gaps ({} workers × {} intervals)",
            group.label,
            gaps.len(),
            group.workers,
            group.intervals
        );
        let (lo, bins_hi) = gap_range(&group.dist, &gaps);
        let bins = density_bins(&gaps, lo, bins_hi);
        let hi = bins_hi + 0.04 * (bins_hi - lo);
        let curve: Vec<(f64, f64)> = if group.dist.is_continuous() {
            (0..=400)
                .map(|i| {
                    let x = lo + (hi - lo) * f64::from(i) / 400.0;
                    (x, group.dist.pdf_ms(x).unwrap_or(0.0))
                })
                .collect()
        } else {
            Vec::new()
        };
        let y_max = bins
            .iter()
            .map(|b| b.2)
            .chain(curve.iter().map(|p| p.1))
            .fold(0.0, f64::max)
            .max(1e-9);
        // Head room above the tallest bar keeps the legend clear of the data.
        let top = y_max;
        let y_max = top * 1.5;
        // Enough decimals for two significant digits of the largest density.
        let decimals = (1.0 - y_max.log10().floor()).clamp(0.0, 9.0) as usize;
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, caption_style())
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(lo..hi, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("data gap (ms)")
            .y_desc("density (1/ms)")
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(hi - lo)))
            .y_labels(6)
            .y_label_formatter(&|y| format!("{y:.*}", decimals))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .draw()?;
        let observed = match arrivals::stats::mean(&gaps) {
            Some(m) => format!("observed (mean {} ms)", fmt_ms(m)),
            None => "observed: no data gaps".to_owned(),
        };
        chart
            .draw_series(
                bins.iter()
                    .map(|&(l, r, h)| Rectangle::new([(l, 0.0), (r, h)], color.mix(0.55).filled())),
            )?
            .label(observed)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.mix(0.55).filled())
            });
        chart.draw_series(
            bins.iter()
                .filter(|b| b.2 > 0.0)
                .map(|&(l, r, h)| Rectangle::new([(l, 0.0), (r, h)], color.stroke_width(1))),
        )?;
        let configured = match group.dist.mean_ms() {
            Some(m) if group.dist.is_continuous() && !group.dist.describe().contains("mean") => {
                format!(
                    "configured: {} (mean {} ms)",
                    group.dist.describe(),
                    fmt_ms(m)
                )
            }
            _ => format!("configured: {}", group.dist.describe()),
        };
        let theory_style = BLACK.stroke_width(2);
        if group.dist.is_continuous() {
            chart
                .draw_series(LineSeries::new(curve, theory_style))?
                .label(configured)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2))
                });
        } else {
            let t = group.dist.param() * 1e3;
            chart
                .draw_series(LineSeries::new([(t, 0.0), (t, top * 1.1)], theory_style))?
                .label(configured)
                .legend(|(x, y)| {
                    PathElement::new(vec![(x + 9, y - 7), (x + 9, y + 7)], BLACK.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// `connection-gaps.png`: the gap before each accepted connection, in accept order, on a
/// log scale, coloured by the client group that opened the connection.
pub fn draw_connection_gaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &Dataset,
) -> Result<(), PlotError> {
    let title = format!(
        "{} — {}: connection gaps (time since the previous accept)",
        d.scenario.name,
        d.mode.server_name()
    );
    let area = root.titled(&title, title_style())?;
    let points: Vec<(f64, f64, Option<usize>)> = d
        .connections
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some(((i + 1) as f64, c.gap_ms?, c.group)))
        .collect();
    if points.is_empty() {
        area.draw_text(
            "fewer than two connections: no connection gaps",
            &caption_style(),
            (40, 40),
        )?;
        return Ok(());
    }
    // What each gap compares with: how long the connection before it stayed open.
    let previous: Vec<(f64, f64)> = d
        .connections
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].gap_ms.is_some())
        .map(|(i, w)| ((i + 2) as f64, w[0].lifetime_ms(d.end_ms).max(1e-3)))
        .collect();
    let all = || {
        points
            .iter()
            .map(|p| p.1)
            .chain(previous.iter().map(|p| p.1))
    };
    let min = all().fold(f64::INFINITY, f64::min);
    let max = all().fold(0.0, f64::max);
    let lo = (min / 3.0).max(1e-3);
    // Head room above the highest mark for the legend.
    let hi = (max * 60.0).max(lo * 10.0);
    let n = d.connections.len() as f64;
    let mut chart = ChartBuilder::on(&area)
        .margin(15)
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(0.5..n + 0.5, (lo..hi).log_scale())?;
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 1.0 {
            format!("#{r:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("connection (accept order)")
        .y_desc("gap before the accept (ms, log scale)")
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 14))
        .x_labels((d.connections.len() + 2).min(30))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| fmt_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let groups = d.scenario.clients.len();
    let mut keys: Vec<Option<usize>> = (0..groups).map(Some).collect();
    if points.iter().any(|p| p.2.is_none()) {
        keys.push(None);
    }
    for g in keys {
        let color = group_color(g);
        let mine: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.2 == g)
            .map(|p| (p.0, p.1))
            .collect();
        for &(x, y) in &mine {
            chart.draw_series(LineSeries::new([(x, lo), (x, y)], color.stroke_width(3)))?;
        }
        chart
            .draw_series(
                mine.iter()
                    .map(|&(x, y)| Circle::new((x, y), 6, color.filled())),
            )?
            .label(format!("gap before a `{}` connection", d.label(g)))
            .legend(move |(x, y)| Circle::new((x + 9, y), 6, color.filled()));
        chart.draw_series(mine.iter().map(|&(x, y)| {
            Text::new(
                fmt_ms(y),
                (x + 0.04, y),
                (FONT, 14).into_font().color(&BLACK),
            )
        }))?;
    }
    chart
        .draw_series(
            previous
                .iter()
                .map(|&(x, y)| Cross::new((x, y), 7, BLACK.stroke_width(2))),
        )?
        .label("lifetime of the connection before it")
        .legend(|(x, y)| Cross::new((x + 9, y), 6, BLACK.stroke_width(2)));
    if let Some(mean) = arrivals::stats::mean(&d.connection_gaps(None)) {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.5, mean), (n + 0.5, mean)],
                10,
                6,
                BLACK.stroke_width(2),
            ))?
            .label(format!("mean {} ms (what the server prints)", fmt_ms(mean)))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// `modes.png` of a sweep: both averages per mode (left) and the data-gap distribution of
/// each mode against the configured mixture (right). `runs` are in sweep order.
pub fn draw_modes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    runs: &[&Dataset],
) -> Result<(), PlotError> {
    let Some(first) = runs.first() else {
        return Ok(());
    };
    let title = format!(
        "{}: one workload against {} server modes",
        first.scenario.name,
        runs.len()
    );
    let area = root.titled(&title, title_style())?;
    let (left, right) = area.split_horizontally(SIZE.0 * 9 / 20);
    let (upper_left, lower_left) = left.split_vertically(SIZE.1 * 11 / 20);

    // Upper left: average connection gap and average data gap per mode, log scale.
    let averages: Vec<(String, Option<f64>, Option<f64>)> = runs
        .iter()
        .map(|d| {
            (
                d.mode.as_str().to_owned(),
                arrivals::stats::mean(&d.connection_gaps(None)),
                arrivals::stats::mean(&d.data_gaps(None)),
            )
        })
        .collect();
    let values: Vec<f64> = averages
        .iter()
        .flat_map(|a| [a.1, a.2])
        .flatten()
        .filter(|v| *v > 0.0)
        .collect();
    let lo = (values.iter().copied().fold(f64::INFINITY, f64::min) / 4.0).max(1e-3);
    let hi = (values.iter().copied().fold(0.0, f64::max) * 12.0).max(lo * 10.0);
    let m = runs.len() as f64;
    let mut chart = ChartBuilder::on(&upper_left)
        .caption("average gaps per mode", caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..m - 0.5, (lo..hi).log_scale())?;
    let names: Vec<String> = averages.iter().map(|a| a.0.clone()).collect();
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 0.0 {
            names.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("average gap (ms, log scale)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(runs.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| fmt_ms(*y))
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    let kinds = [
        ("average connection gap", PALETTE[0], -0.36, 0usize),
        ("average data gap", PALETTE[1], 0.0, 1usize),
    ];
    for (label, color, offset, which) in kinds {
        let bars: Vec<(f64, f64)> = averages
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let v = if which == 0 { a.1 } else { a.2 };
                Some((i as f64 + offset, v?.max(lo)))
            })
            .collect();
        chart
            .draw_series(
                bars.iter()
                    .map(|&(x, v)| Rectangle::new([(x, lo), (x + 0.36, v)], color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
        chart.draw_series(bars.iter().map(|&(x, v)| {
            Text::new(
                fmt_ms(v),
                (x + 0.02, v * 1.6),
                (FONT, 13).into_font().color(&BLACK),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // Lower left: what the server added to each interval the client drew.
    let added: Vec<Vec<f64>> = runs
        .iter()
        .map(|d| {
            d.messages
                .iter()
                .filter_map(|msg| Some(msg.gap_ms - msg.interval_ms?))
                .collect()
        })
        .collect();
    let a_lo = added.iter().flatten().copied().fold(0.0, f64::min);
    let a_hi = added.iter().flatten().copied().fold(0.0, f64::max);
    let pad = ((a_hi - a_lo) * 0.08).max(0.01);
    let mut chart = ChartBuilder::on(&lower_left)
        .caption(
            "data gap − interval the client drew (bar: median)",
            caption_style(),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..m - 0.5, (a_lo - pad)..(a_hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("server mode")
        .y_desc("difference (ms)")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_labels(runs.len() + 2)
        .x_label_formatter(&x_fmt)
        .y_labels(6)
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    for (i, diffs) in added.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // A fixed, even spread across the column so equal values stay visible.
        let n = diffs.len().max(1) as f64;
        chart.draw_series(diffs.iter().enumerate().map(|(j, &v)| {
            let x = i as f64 - 0.3 + 0.6 * (j as f64 + 0.5) / n;
            Circle::new((x, v), 2, color.mix(0.7).filled())
        }))?;
        let mut sorted = diffs.clone();
        sorted.sort_by(f64::total_cmp);
        if !sorted.is_empty() {
            let median = arrivals::stats::quantile_sorted(&sorted, 0.5);
            chart.draw_series(LineSeries::new(
                [(i as f64 - 0.35, median), (i as f64 + 0.35, median)],
                BLACK.stroke_width(2),
            ))?;
        }
    }

    // Right: empirical CDF of the data gaps per mode, and the configured mixture.
    let all_max = runs
        .iter()
        .flat_map(|d| d.data_gaps(None))
        .fold(0.0, f64::max);
    let total: f64 = first
        .scenario
        .clients
        .iter()
        .map(|g| g.messages() as f64)
        .sum();
    let mixture = |x: f64| -> f64 {
        first
            .scenario
            .clients
            .iter()
            .map(|g| g.messages() as f64 / total.max(1.0) * g.dist.cdf_ms(x))
            .sum()
    };
    let theory_hi = first
        .scenario
        .clients
        .iter()
        .map(|g| g.dist.quantile_ms(0.995))
        .fold(0.0, f64::max);
    let x_hi = all_max.max(theory_hi).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(&right)
        .caption("data gaps: fraction at most x, per mode", caption_style())
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_hi, 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("data gap (ms)")
        .y_desc("fraction of data gaps ≤ x")
        .x_label_formatter(&|x| format!("{x:.*}", axis_decimals(x_hi)))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .draw()?;
    // Nested widths: where the modes agree, each curve still shows around the next.
    let widths = [10u32, 7, 4, 2];
    for (i, d) in runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let width = widths.get(i).copied().unwrap_or(1);
        let mut gaps = d.data_gaps(None);
        gaps.sort_by(f64::total_cmp);
        let n = gaps.len() as f64;
        let mut steps = vec![(0.0, 0.0)];
        for (j, &g) in gaps.iter().enumerate() {
            steps.push((g, j as f64 / n));
            steps.push((g, (j + 1) as f64 / n));
        }
        steps.push((x_hi, if gaps.is_empty() { 0.0 } else { 1.0 }));
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(width)))?
            .label(format!("{} ({} gaps)", d.mode.as_str(), gaps.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width.min(6)))
            });
    }
    let curve: Vec<(f64, f64)> = (0..=600)
        .map(|i| {
            let x = x_hi * f64::from(i) / 600.0;
            (x, mixture(x))
        })
        .collect();
    chart
        .draw_series(DashedLineSeries::new(curve, 8, 5, BLACK.stroke_width(2)))?
        .label("configured (mixture of the groups)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_bins_integrate_to_one() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let bins = density_bins(&v, 0.0, 100.0);
        let area: f64 = bins.iter().map(|(l, r, h)| (r - l) * h).sum();
        assert!((area - 1.0).abs() < 1e-9, "{area}");
        assert!(density_bins(&[], 0.0, 1.0).is_empty());
    }

    #[test]
    fn fixed_intervals_get_a_window_around_t() {
        let d = Distribution::new(arrivals::DistKind::Deterministic, 0.5, None).expect("valid");
        let (lo, hi) = gap_range(&d, &[500.2, 500.4]);
        assert!(lo < 500.0 && hi > 500.4, "{lo}..{hi}");
        assert!(hi - lo < 50.0, "{lo}..{hi}");
    }

    #[test]
    fn every_figure_renders_at_the_promised_size() {
        let d = crate::dataset::fixtures::iterative();
        let size_of = |bytes: Vec<u8>| {
            let reader = ::png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("decodes");
            (reader.info().width, reader.info().height)
        };
        let figures = [
            png(SIZE, |a| draw_timeline(a, &d)),
            png(SIZE, |a| draw_data_gaps(a, &d)),
            png(SIZE, |a| draw_connection_gaps(a, &d)),
            png(SIZE, |a| draw_modes(a, &[&d, &d])),
        ];
        for bytes in figures {
            assert_eq!(size_of(bytes.expect("renders")), SIZE);
        }
    }

    #[test]
    fn ms_precision_follows_magnitude() {
        assert_eq!(fmt_ms(1033.516), "1034");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(0.3), "0.30");
        assert_eq!(fmt_ms(0.0123), "0.012");
    }
}
