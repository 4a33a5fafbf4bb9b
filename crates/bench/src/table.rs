//! The suite's one table: rows, their ratios to the rows they are compared with, and the
//! pure formatters (aligned text, CSV, markdown) that return what the caller writes.

use anyhow::Context;

/// One measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub group: &'static str,
    pub name: String,
    /// `None` when the figure does not apply (shown as `n/a`).
    pub value: Option<f64>,
    pub unit: &'static str,
    /// The name of the row (same group) this one is divided by.
    pub compared_with: Option<String>,
    pub ratio: Option<f64>,
    pub note: String,
    pub failed: bool,
}

impl Row {
    pub fn new(
        group: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            group,
            name: name.into(),
            value: Some(value),
            unit,
            compared_with: None,
            ratio: None,
            note: String::new(),
            failed: false,
        }
    }

    /// A row whose figure does not apply, with the reason as its note.
    pub fn not_applicable(
        group: &'static str,
        name: impl Into<String>,
        unit: &'static str,
        why: &str,
    ) -> Self {
        let mut row = Self::new(group, name, 0.0, unit);
        row.value = None;
        row.note = format!("n/a: {why}");
        row
    }

    /// A row that records a failure of its group.
    pub fn failure(group: &'static str, name: impl Into<String>, what: &str) -> Self {
        let mut row = Self::not_applicable(group, name, "", "");
        row.note = format!("FAILED: {what}");
        row.failed = true;
        row
    }

    pub fn vs(mut self, other: impl Into<String>) -> Self {
        self.compared_with = Some(other.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    /// Marks the row FAILED unless `ok`, prefixing the note with `what`.
    pub fn check(mut self, ok: bool, what: &str) -> Self {
        if !ok {
            self.failed = true;
            self.note = format!("FAILED: {what}; {}", self.note);
        }
        self
    }
}

/// The rows of a run, in the order they were measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub rows: Vec<Row>,
}

const HEADER: [&str; 7] = [
    "group",
    "row",
    "value",
    "unit",
    "compared_with",
    "ratio",
    "note",
];

impl Table {
    /// Computes each row's ratio to the row it is compared with.
    pub fn resolve_ratios(&mut self) {
        let lookup: Vec<(&'static str, String, Option<f64>)> = self
            .rows
            .iter()
            .map(|r| (r.group, r.name.clone(), r.value))
            .collect();
        for row in &mut self.rows {
            let Some(other) = &row.compared_with else {
                continue;
            };
            let base = lookup
                .iter()
                .find(|(g, n, _)| *g == row.group && n == other)
                .and_then(|(_, _, v)| *v);
            row.ratio = match (row.value, base) {
                (Some(v), Some(b)) if b != 0.0 => Some(v / b),
                _ => None,
            };
        }
    }

    pub fn all_ok(&self) -> bool {
        self.rows.iter().all(|r| !r.failed)
    }

    fn cells(&self) -> Vec<[String; 7]> {
        self.rows
            .iter()
            .map(|r| {
                [
                    r.group.to_owned(),
                    r.name.clone(),
                    r.value.map_or_else(|| "n/a".into(), format_value),
                    r.unit.to_owned(),
                    r.compared_with.clone().unwrap_or_default(),
                    r.ratio.map_or_else(String::new, |x| format!("{x:.2}")),
                    r.note.clone(),
                ]
            })
            .collect()
    }

    /// The table as aligned text (numbers right-aligned), one line per row.
    pub fn to_text(&self) -> String {
        let header = HEADER.map(str::to_owned);
        let cells = self.cells();
        let mut widths = [0usize; 7];
        for row in std::iter::once(&header).chain(&cells) {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&cells) {
            let mut line = String::new();
            for (i, (c, w)) in row.iter().zip(widths).enumerate() {
                let pad = w - c.chars().count();
                let right = matches!(i, 2 | 5);
                match (right, i == 6) {
                    (true, _) => line.push_str(&format!("{}{c}  ", " ".repeat(pad))),
                    (false, true) => line.push_str(c),
                    (false, false) => line.push_str(&format!("{c}{}  ", " ".repeat(pad))),
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The table as CSV with a header line.
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(HEADER)?;
        for row in self.cells() {
            w.write_record(&row)?;
        }
        w.into_inner().context("cannot finish the CSV table")
    }

    /// The table as a markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("| {} |\n", HEADER.join(" | "));
        out.push_str("|---|---|---:|---|---|---:|---|\n");
        for row in self.cells() {
            let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", escaped.join(" | ")));
        }
        out
    }
}

/// A figure with about four significant digits, without exponent notation.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_divide_by_the_named_row_of_the_same_group() {
        let mut t = Table {
            rows: vec![
                Row::new("a", "base", 4.0, "x"),
                Row::new("a", "half", 2.0, "x").vs("base"),
                Row::new("b", "base", 1.0, "x"),
                Row::new("a", "missing", 2.0, "x").vs("nothing"),
            ],
        };
        t.resolve_ratios();
        assert_eq!(t.rows[1].ratio, Some(0.5));
        assert_eq!(t.rows[3].ratio, None);
        let text = t.to_text();
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains("0.50"), "{text}");
        assert!(
            t.to_markdown()
                .contains("| a | half | 2.00 | x | base | 0.50 |  |")
        );
    }

    #[test]
    fn checks_mark_rows_failed() {
        let row = Row::new("a", "r", 1.0, "x")
            .note("n = 3")
            .check(false, "n = 3, sent 4");
        assert!(row.failed);
        assert_eq!(row.note, "FAILED: n = 3, sent 4; n = 3");
        assert_eq!(format_value(1234.56), "1235");
        assert_eq!(format_value(0.012345), "0.0123");
    }
}
