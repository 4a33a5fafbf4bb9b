//! The CSV tables of a run, as bytes: `connections.csv`, `messages.csv` and `summary.csv`.
//! Times are milliseconds with three decimals; empty cells mean "not known".

use crate::dataset::{Dataset, close_reason_str};

/// A CSV table could not be formatted.
#[derive(Debug, thiserror::Error)]
#[error("cannot format {table}: {source}")]
pub struct CsvError {
    table: &'static str,
    source: csv::Error,
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(ms).unwrap_or_default()
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
                ms(c.accept_ms),
                opt_ms(c.close_ms),
                ms(c.lifetime_ms(d.end_ms)),
                opt_ms(c.gap_ms),
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
                ms(m.recv_ms),
                ms(m.gap_ms),
                opt_ms(m.interval_ms),
                opt_ms(m.lateness_ms),
                opt_ms(m.latency_ms),
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
            "lateness_ms",
            "latency_ms",
            "bytes",
        ],
        rows,
    )
}

/// Count, mean, median, p90, p99, min and max of both gap kinds, overall and per group.
pub fn summary(d: &Dataset) -> Result<Vec<u8>, CsvError> {
    let rows = d
        .summaries()
        .into_iter()
        .map(|(kind, client, s)| {
            let mut row = vec![kind.as_str().to_owned(), client];
            match s {
                Some(s) => {
                    row.push(s.count.to_string());
                    row.extend([s.mean, s.median, s.p90, s.p99, s.min, s.max].map(ms));
                }
                None => {
                    row.push("0".into());
                    row.extend(std::iter::repeat_n(String::new(), 6));
                }
            }
            row
        })
        .collect();
    table(
        "summary.csv",
        &[
            "gap",
            "client",
            "count",
            "mean_ms",
            "median_ms",
            "p90_ms",
            "p99_ms",
            "min_ms",
            "max_ms",
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
            text.contains("\n3,uni,1,1,1,452.500,50.000,49.500,0.250,0.500,42\n"),
            "{text}"
        );
        let text = String::from_utf8(summary(&d).expect("csv")).expect("utf8");
        assert!(
            text.contains(
                "\nconnection_gap,all,2,201.250,201.250,201.450,201.495,201.000,201.500\n"
            ),
            "{text}"
        );
    }
}
