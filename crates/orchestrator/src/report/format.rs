//! How the report writes numbers: each format once, named by where it is used, for the CSV
//! tables, the markdown pages and the plots alike.

/// Milliseconds in a CSV cell: three decimals.
pub(crate) fn csv_ms(v: f64) -> String {
    format!("{v:.3}")
}

/// Milliseconds in a CSV cell, empty when not known.
pub(crate) fn csv_opt_ms(v: Option<f64>) -> String {
    v.map(csv_ms).unwrap_or_default()
}

/// A p-value in a CSV cell: six decimals, or three significant digits below 1e-4 (so tiny
/// ones keep their magnitude).
pub(crate) fn csv_p(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 1e-4 {
        format!("{p:.6}")
    } else {
        format!("{p:.3e}")
    }
}

/// Milliseconds in a markdown cell: two decimals, `n/a` when not known.
pub(crate) fn cell_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
}

/// A p-value on a page or in a plot legend: three decimals, or two significant digits
/// below 0.001.
pub(crate) fn short_p(p: f64) -> String {
    if p == 0.0 {
        "0".to_owned()
    } else if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// Milliseconds on a plot, with a precision that suits the size.
pub(crate) fn plot_ms(v: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_keeps_its_precision() {
        assert_eq!(csv_ms(1.23456), "1.235");
        assert_eq!(csv_opt_ms(None), "");
        assert_eq!(csv_p(0.5), "0.500000");
        assert_eq!(csv_p(1.234e-7), "1.234e-7");
        assert_eq!(cell_ms(None), "n/a");
        assert_eq!(cell_ms(Some(2.0)), "2.00");
        assert_eq!(short_p(0.0), "0");
        assert_eq!(short_p(0.25), "0.250");
        assert_eq!(short_p(2.5e-5), "2.5e-5");
        assert_eq!(plot_ms(1033.516), "1034");
        assert_eq!(plot_ms(12.34), "12.3");
        assert_eq!(plot_ms(0.3), "0.30");
        assert_eq!(plot_ms(0.0123), "0.012");
    }
}
