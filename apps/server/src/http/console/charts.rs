//! Bar charts drawn on the server as inline SVG: no script, no chart library,
//! nothing fetched; colours come from the stylesheet (classes, not inline
//! styles, so the CSP needs no `unsafe-inline`). Each bar carries a `<title>`
//! (its tooltip) and the numbers are also a table for screen readers.

use maud::{html, Markup};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// One bar: its label (a day) and its value.
pub struct Bar {
    pub label: String,
    pub value: u64,
}

/// A rounded-up axis maximum: 1, 2, 5 × 10ⁿ.
fn axis_max(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            if step.saturating_mul(factor) >= max {
                return step.saturating_mul(factor).max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A bar chart of `bars` titled `title`; `class` picks its colour.
pub fn bar_chart(id: &str, title: &str, unit: &str, class: &str, bars: &[Bar]) -> Markup {
    let total: u64 = bars.iter().map(|bar| bar.value).sum();
    let top = axis_max(bars.iter().map(|bar| bar.value).max().unwrap_or(0));
    let plot_width = WIDTH - LEFT;
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = plot_width / bars.len().max(1) as f64;
    let bar_width = (slot * 0.8).max(1.0);
    let y = |value: u64| TOP + plot_height * (1.0 - value as f64 / top as f64);
    let title_id = format!("{id}-title");
    html! {
        figure.chart id=(id) {
            figcaption id=(title_id) { (title) ": " strong { (total) } " " (unit) " in " (bars.len()) " days" }
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(title_id)
                preserveAspectRatio="none" class=(format!("bars {class}")) {
                line.axis x1=(LEFT) y1=(y(0)) x2=(WIDTH) y2=(y(0)) {}
                line.grid x1=(LEFT) y1=(y(top)) x2=(WIDTH) y2=(y(top)) {}
                text.tick x=(LEFT - 4.0) y=(y(top) + 4.0) text-anchor="end" { (top) }
                text.tick x=(LEFT - 4.0) y=(y(0)) text-anchor="end" { "0" }
                @for (n, bar) in bars.iter().enumerate() {
                    @let x = LEFT + n as f64 * slot + (slot - bar_width) / 2.0;
                    @let height = y(0) - y(bar.value);
                    rect.bar x=(format!("{x:.2}")) y=(format!("{:.2}", y(bar.value))) width=(format!("{bar_width:.2}"))
                        height=(format!("{height:.2}")) data-value=(bar.value) {
                        title { (bar.label) ": " (bar.value) " " (unit) }
                    }
                }
                @if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
                    text.tick x=(LEFT) y=(HEIGHT - 4.0) text-anchor="start" { (first.label) }
                    text.tick x=(WIDTH) y=(HEIGHT - 4.0) text-anchor="end" { (last.label) }
                }
            }
            details {
                summary { "The numbers" }
                table {
                    thead { tr { th scope="col" { "Day" } th scope="col" { (unit) } } }
                    tbody {
                        @for bar in bars.iter().filter(|bar| bar.value > 0) {
                            tr { td { (bar.label) } td { (bar.value) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_rounds_up_to_one_two_or_five() {
        assert_eq!([0, 1, 2, 3, 7, 10, 11, 49, 51, 999].map(axis_max), [1, 1, 2, 5, 10, 10, 20, 50, 100, 1000]);
    }

    #[test]
    fn the_tallest_bar_fills_the_plot_and_every_bar_has_its_value() {
        let bars = [Bar { label: "d1".into(), value: 0 }, Bar { label: "d2".into(), value: 5 }];
        let svg = bar_chart("sales", "Sales", "sales", "sales", &bars).into_string();
        assert!(svg.contains("<strong>5</strong> sales in 2 days"), "{svg}");
        assert!(svg.contains(r#"data-value="5""#) && svg.contains(r#"data-value="0""#));
        assert!(svg.contains("<title>d2: 5 sales</title>"));
        // The 5 reaches the axis maximum (5): its bar starts at the plot's top.
        assert!(svg.contains(&format!(r#"y="{TOP:.2}""#)), "{svg}");
    }
}
