//! The CSV tables of a run, as bytes: `connections.csv`, `messages.csv`, `summary.csv` and
//! `distortion.csv`, and `summary-runs.csv` across the runs of a repeated scenario. Times are
//! milliseconds with three decimals; empty cells mean "not known" or "does not apply".

use super::format::{csv_ms, csv_opt_ms, csv_p};
use crate::dataset::{Dataset, close_reason_str};
use crate::fidelity::{self, AcrossRow, DISTORTION_FIGURES, SUMMARY_FIGURES};

/// A CSV table could not be formatted.
#[derive(Debug, thiserror::Error)]
#[error("cannot format {table}: {source}")]
pub struct CsvError {
    table: &'static str,
    source: csv::Error,
}

/// A figure of [`SUMMARY_FIGURES`] or [`DISTORTION_FIGURES`], formatted by its name:
/// counts as integers (or two decimals when `averaged`), times in ms with three decimals,
/// KS D with six, A² with four, p-values by [`csv_p`].
pub fn figure(name: &str, v: f64, averaged: bool) -> String {
    if name == "count" || name.ends_with("_n") {
        if averaged {
            format!("{v:.2}")
        } else {
            format!("{v:.0}")
        }
    } else if name.ends_with("_ms") {
        csv_ms(v)
    } else if name.ends_with("_p") {
        csv_p(v)
    } else if name == "ad_a2" {
        format!("{v:.4}")
    } else {
        format!("{v:.6}")
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn table(name: &'static str, header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>, CsvError> {
    let err = |source| CsvError {
        table: name,
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(err)?;
    for row in rows {
        w.write_record(&row).map_err(err)?;
    }
    w.into_inner().map_err(|e| err(e.into_error().into()))
}

/// One row per connection, in accept order. Times are ms since the first accept.
pub fn connections(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    let rows = d
        .connections
        .iter()
        .map(|c| {
            vec![
                c.conn.to_string(),
                d.label(c.group).to_owned(),
                opt(c.worker),
                c.peer.clone(),
                c.pid.to_string(),
                c.tid.to_string(),
                csv_ms(c.accept_ms),
                csv_opt_ms(c.close_ms),
                csv_ms(c.lifetime_ms(d.end_ms)),
                csv_opt_ms(c.gap_ms),
                c.messages.to_string(),
                c.close_reason
                    .map(close_reason_str)
                    .unwrap_or("open_at_stop")
                    .to_owned(),
            ]
        })
        .collect();
    table(
        "connections.csv",
        &[
            "conn",
            "client",
            "worker",
            "peer",
            "pid",
            "tid",
            "accept_ms",
            "close_ms",
            "lifetime_ms",
            "gap_ms",
            "messages",
            "close_reason",
        ],
        rows,
    )
}

/// One row per message, by connection and sequence number.
pub fn messages(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    let rows = d
        .messages
        .iter()
        .map(|m| {
            vec![
                m.conn.to_string(),
                d.label(m.group).to_owned(),
                opt(m.worker),
                m.seq.to_string(),
                opt(m.event),
                csv_ms(m.recv_ms),
                csv_ms(m.gap_ms),
                csv_opt_ms(m.interval_ms),
                csv_opt_ms(m.send_gap_ms),
                csv_opt_ms(m.lateness_ms),
                csv_opt_ms(m.latency_ms),
                m.bytes.to_string(),
            ]
        })
        .collect();
    table(
        "messages.csv",
        &[
            "conn",
            "client",
            "worker",
            "seq",
            "event",
            "recv_ms",
            "gap_ms",
            "interval_ms",
            "send_gap_ms",
            "lateness_ms",
            "latency_ms",
            "bytes",
        ],
        rows,
    )
}

/// Per series (server accept and data gaps; client connect gaps, send gaps, drawn
/// intervals, send lateness, data gap − send gap), overall and per group: count, mean,
/// median, p90, p99, min and max, and the fit to the configured distribution — KS D and p,
/// Anderson–Darling A² and p for a continuous one, mean, p99 and max of |x − T| for a fixed
/// interval T.
pub fn summary(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    let rows = fidelity::rows(d)
        .into_iter()
        .map(|r| {
            let mut row = vec![r.series.as_str().to_owned(), r.client.clone()];
            row.extend(
                SUMMARY_FIGURES
                    .iter()
                    .zip(r.figures())
                    .map(|(name, v)| v.map(|v| figure(name, v, false)).unwrap_or_default()),
            );
            row
        })
        .collect();
    let mut header = vec!["gap", "client"];
    header.extend(SUMMARY_FIGURES);
    table("summary.csv", &header, rows)
}

/// What the server observed against what the clients sent: data gaps (pooled, then per
/// group when there are several) and connection gaps, with both sides' counts and means and
/// the two-sample KS D and p.
pub fn distortion(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    let rows = fidelity::comparisons(d)
        .into_iter()
        .map(|c| {
            let mut row = vec![c.compared.as_str().to_owned(), c.client.clone()];
            row.extend(
                DISTORTION_FIGURES
                    .iter()
                    .zip(c.figures())
                    .map(|(name, v)| v.map(|v| figure(name, v, false)).unwrap_or_default()),
            );
            row
        })
        .collect();
    let mut header = vec!["gap", "client"];
    header.extend(DISTORTION_FIGURES);
    table("distortion.csv", &header, rows)
}

/// Every figure of `summary.csv` (table `summary`) and `distortion.csv` (table
/// `distortion`) across the runs of a repeated scenario, one line per figure: how many runs
/// had it, their mean and the half width of its 95% confidence interval.
pub fn summary_runs(summary: &[AcrossRow], distortion: &[AcrossRow]) -> Result<Vec<u8>, CsvError> {
    let mut rows = Vec::new();
    for (table, names, across) in [
        ("summary", &SUMMARY_FIGURES[..], summary),
        ("distortion", &DISTORTION_FIGURES[..], distortion),
    ] {
        for r in across {
            for (name, v) in names.iter().zip(&r.values) {
                let Some(v) = v else { continue };
                rows.push(vec![
                    table.to_owned(),
                    r.series.clone(),
                    r.client.clone(),
                    (*name).to_owned(),
                    v.runs.to_string(),
                    figure(name, v.mean, true),
                    v.ci95.map(|h| figure(name, h, true)).unwrap_or_default(),
                ]);
            }
        }
    }
    table(
        "summary-runs.csv",
        &[
            "table",
            "gap",
            "client",
            "figure",
            "runs",
            "mean",
            "ci95_half_width",
        ],
        rows,
    )
}

/// What queueing theory predicts for a run and what it measured: the inputs (λ from the
/// clients' connect instants, E[S] and E[S²] of the connections' service times, ρ, the
/// connect gaps' KS D against an exponential law), each prediction with its measurement or
/// why it does not apply, and the merged data stream against an exponential law and
/// against the superposition of the clients' streams.
pub fn theory(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    use crate::theory;
    let t = theory::theory(d);
    let i = t.inputs;
    let num = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    let input = |name: &str, formula: &str, v: Option<f64>| {
        vec![
            name.to_owned(),
            formula.to_owned(),
            String::new(),
            num(v),
            String::new(),
        ]
    };
    let mut rows = vec![
        input("connections", "", Some(i.connections as f64)),
        input(
            "lambda_per_s",
            "(n − 1) / span of the connect calls",
            i.lambda.map(|l| l.per_second()),
        ),
        input("mean_service_ms", "E[S], accept → close", i.es_ms),
        input("service_second_moment_ms2", "E[S²]", i.es2_ms2),
        input("rho", "λE[S]", i.rho),
        input(
            "connect_gaps_ks_d",
            "connect gaps vs Exp(mean gap)",
            i.poisson.map(|p| p.ks.statistic),
        ),
    ];
    for p in &t.predictions {
        rows.push(vec![
            p.quantity.as_str().to_owned(),
            p.quantity.formula().to_owned(),
            num(p.predicted),
            num(p.measured),
            p.not_applicable.clone().unwrap_or_default(),
        ]);
    }
    let m = theory::merged(d);
    let ks = |k: Option<arrivals::gof::KsResult>| {
        k.map(|k| format!("D = {:.6}, p = {}", k.statistic, csv_p(k.p_value)))
            .unwrap_or_default()
    };
    rows.push(vec![
        "merged_ks_d_exponential".to_owned(),
        "merged data gaps vs Exp(total configured rate)".to_owned(),
        String::new(),
        num(m.vs_exponential.map(|k| k.statistic)),
        ks(m.vs_exponential),
    ]);
    rows.push(vec![
        "merged_ks_d_superposition".to_owned(),
        "merged data gaps vs P(Y > y) = (1 − F(y)) Ḡ(y)^(N−1)".to_owned(),
        num(m.predicted_d),
        num(m.vs_superposition.map(|k| k.statistic)),
        if m.vs_superposition.is_some() {
            ks(m.vs_superposition)
        } else {
            "the clients' streams are not continuous renewal processes".to_owned()
        },
    ]);
    table(
        "theory.csv",
        &["quantity", "formula", "predicted", "measured", "note"],
        rows,
    )
}

/// One row per step and mode of a load sweep: the swept value, the rate offered and
/// achieved (`unit` per second), the server delay's p50 and p99, the KS D of send gaps vs
/// data gaps, the mean connect → accept wait, whether this is the mode's knee, and why a
/// run failed.
pub fn load(
    key: &str,
    unit: crate::load::Unit,
    points: &[crate::load::Point],
    knees: &[crate::load::Knee],
) -> Result<Vec<u8>, CsvError> {
    let rate = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_default();
    let rows = points
        .iter()
        .map(|p| {
            let knee = knees.iter().any(|k| k.mode == p.mode && k.value == p.value);
            vec![
                crate::scenario::LoadSweep::format_value(p.value),
                p.mode.to_string(),
                p.runs.to_string(),
                rate(Some(p.offered)),
                rate(p.achieved),
                csv_opt_ms(p.delay_p50),
                csv_opt_ms(p.delay_p99),
                p.ks_d.map(|d| format!("{d:.6}")).unwrap_or_default(),
                csv_opt_ms(p.wait_ms),
                knee.to_string(),
                // One line per row: the reason's lines joined.
                p.failed
                    .as_deref()
                    .map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let (offered, achieved) = match unit {
        crate::load::Unit::Messages => ("offered_messages_per_s", "achieved_messages_per_s"),
        crate::load::Unit::Connections => {
            ("offered_connections_per_s", "achieved_connections_per_s")
        }
    };
    table(
        "load.csv",
        &[
            key,
            "mode",
            "runs",
            offered,
            achieved,
            "server_delay_p50_ms",
            "server_delay_p99_ms",
            "ks_d_send_vs_data",
            "mean_connect_wait_ms",
            "knee",
            "failed",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::fixtures;

    #[test]
    fn tables_have_fixed_decimals_and_one_row_per_item() {
        let d = fixtures::iterative();
        let text = String::from_utf8(connections(&d).expect("csv")).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "2,fixed,2,127.0.0.1:5002,7,8,201.500,402.000,200.500,201.500,2,peer_closed"
        );
        let text = String::from_utf8(messages(&d).expect("csv")).expect("utf8");
        assert_eq!(text.lines().count(), 6);
        assert!(
            text.contains("\n3,uni,1,1,1,452.500,50.000,49.500,49.750,0.250,0.500,42\n"),
            "{text}"
        );
        let text = String::from_utf8(summary(&d).expect("csv")).expect("utf8");
        assert!(
            text.contains(
                "\nconnection_gap,all,2,201.250,201.250,201.450,201.495,201.000,201.500,,,,,,,\n"
            ),
            "{text}"
        );
        // Uniform on [0, 200 ms], one gap of 50 ms: D = 0.75; fixed 100 ms: |gap − T| = 0.
        assert!(text.contains("\ndata_gap,uni,1,50.000,"), "{text}");
        assert!(text.contains(",0.750000,0.500000,"), "{text}");
        assert!(
            text.contains("\ndata_gap,fixed,4,100.000,100.000,100.000,100.000,100.000,100.000,,,,,0.000,0.000,0.000\n"),
            "{text}"
        );
        let text = String::from_utf8(distortion(&d).expect("csv")).expect("utf8");
        assert!(
            text.starts_with(
                "gap,client,client_n,server_n,client_mean_ms,server_mean_ms,ks_d,ks_p\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\nconnection_gap,all,2,2,0.250,201.250,1.000000,"),
            "{text}"
        );
    }

    #[test]
    fn figures_keep_tiny_p_values_and_fixed_decimals() {
        assert_eq!(csv_p(0.5), "0.500000");
        assert_eq!(csv_p(3.2e-9), "3.200e-9");
        assert_eq!(csv_p(0.0), "0");
        assert_eq!(figure("count", 12.0, false), "12");
        assert_eq!(figure("count", 12.5, true), "12.50");
        assert_eq!(figure("ad_a2", 0.123456, false), "0.1235");
        assert_eq!(figure("ks_d", 0.5, false), "0.500000");
    }
}
