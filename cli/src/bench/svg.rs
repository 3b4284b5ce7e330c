//! A latency histogram as an SVG picture for `BENCHMARKS.md`: one bar per
//! logarithmic bucket (latencies span four orders of magnitude), the share of
//! samples on the y axis, and the percentiles marked.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const MARGIN: f64 = 48.0;
/// Buckets per power of ten.
const PER_DECADE: u32 = 10;

/// Renders `histogram` (microseconds) titled `title`.
pub fn latency_histogram(histogram: &Histogram<u64>, title: &str) -> String {
    // Whole decades from the smallest sample's to above the largest's.
    let first_decade = histogram.min().max(1).ilog10();
    let last_decade = histogram.max().max(1).ilog10() + 1;
    let (first, last) = (f64::from(first_decade), f64::from(last_decade));
    let buckets = (last_decade - first_decade) * PER_DECADE;
    let upper_edges: Vec<f64> = (1..=buckets)
        .map(|i| 10f64.powf(first + f64::from(i) / f64::from(PER_DECADE)))
        .collect();
    let mut counts = vec![0_u64; upper_edges.len()];
    for value in histogram.iter_recorded() {
        let us = value.value_iterated_to() as f64;
        let bucket = upper_edges
            .iter()
            .position(|&edge| us < edge)
            .unwrap_or(counts.len() - 1);
        counts[bucket] += value.count_at_value();
    }
    let total = histogram.len().max(1) as f64;
    let tallest = counts.iter().copied().max().unwrap_or(1).max(1) as f64 / total;
    let plot_w = WIDTH - 2.0 * MARGIN;
    let plot_h = HEIGHT - 2.0 * MARGIN;
    let x = |us: f64| MARGIN + (us.log10() - first) / (last - first) * plot_w;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{MARGIN}" y="20" font-size="13">{}</text>"#,
        escape(title)
    );
    let bar_w = plot_w / f64::from(buckets);
    for (i, &count) in counts.iter().enumerate() {
        let h = count as f64 / total / tallest * plot_h;
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#5865f2"/>"##,
            MARGIN + i as f64 * bar_w,
            HEIGHT - MARGIN - h,
            (bar_w - 1.0).max(1.0),
        );
    }
    // The x axis: a tick per power of ten, labelled in milliseconds.
    let _ = writeln!(
        svg,
        r#"<line x1="{MARGIN}" y1="{y}" x2="{}" y2="{y}" stroke="black"/>"#,
        WIDTH - MARGIN,
        y = HEIGHT - MARGIN
    );
    let mut decade = first;
    while decade <= last {
        let us = 10f64.powf(decade);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} ms</text>"#,
            x(us),
            HEIGHT - MARGIN + 16.0,
            us / 1000.0
        );
        decade += 1.0;
    }
    // Labels stacked down the plot's top-left of each line, so close percentiles
    // stay readable.
    let marks = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];
    for (row, (quantile, label)) in (0_u32..).zip(marks) {
        let us = histogram.value_at_quantile(quantile).max(1) as f64;
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{MARGIN}" x2="{px:.1}" y2="{}" stroke="#ed4245" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#ed4245">{label} {:.1} ms</text>"##,
            HEIGHT - MARGIN,
            x(us) + 3.0,
            MARGIN + 12.0 + 13.0 * f64::from(row),
            us / 1000.0,
            px = x(us),
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">share of deliveries</text>"#,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::latency_histogram;
    use crate::bench::histogram;

    #[test]
    fn every_sample_is_in_a_bar_and_the_percentiles_are_marked() {
        let mut latencies = histogram().expect("histogram");
        for us in [800, 900, 1_200, 5_000, 40_000] {
            latencies.record(us).expect("record");
        }
        let svg = latency_histogram(&latencies, "a <test>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;test&gt;"));
        // Five samples in four buckets: four bars taller than zero.
        let bars = svg
            .lines()
            .filter(|l| l.contains("fill=\"#5865f2\"") && !l.contains("height=\"0.0\""))
            .count();
        assert_eq!(bars, 4, "{svg}");
        for label in ["p50", "p90", "p99 ", "p99.9"] {
            assert!(svg.contains(label), "{label} missing");
        }
    }
}
