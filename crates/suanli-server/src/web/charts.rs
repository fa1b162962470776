//! Charts of the finance dashboard: SVG drawn on the server by the `plotters` library (its
//! SVG backend), so the page needs no script to show them and a printout looks the same.
//!
//! The browser lays out every label with its own fonts: `<text>` elements carry the font
//! list [`FONT`], which starts with the common Simplified Chinese fonts of Linux, macOS and
//! Windows, so 万, 月 and company names render with a CJK font. Entity names reach the SVG
//! only through `plotters`, which escapes text and attributes.
//!
//! Floating point is used only to place marks on the canvas and to label axis ticks; every
//! amount a person reads as a number comes from the exact decimals, formatted by the page.

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
pub use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font list of every label.
pub const FONT: &str = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Hiragino Sans GB',\
                        'Microsoft YaHei','WenQuanYi Micro Hei',sans-serif";

/// Colours, one per kind of money everywhere on the page (and in the HTML legends).
pub const RENTER: RGBColor = RGBColor(0x25, 0x63, 0xeb);
pub const SUPPLIER: RGBColor = RGBColor(0xf5, 0x9e, 0x0b);
pub const VOUCHER: RGBColor = RGBColor(0x10, 0xb9, 0x81);
pub const LAPSED: RGBColor = RGBColor(0x9c, 0xa3, 0xaf);
pub const BALANCE: RGBColor = RGBColor(0xbf, 0xdb, 0xfe);
pub const BUDGET: RGBColor = RGBColor(0xdc, 0x26, 0x26);
pub const INK: RGBColor = RGBColor(0x37, 0x41, 0x51);
const GRID: RGBColor = RGBColor(0xe5, 0xe7, 0xeb);

/// The CSS colour of a chart colour, for legends drawn in HTML.
pub fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// How axis ticks read: Chinese (万, 亿) or English (k, M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    Zh,
    En,
}

impl Units {
    /// A short amount for an axis tick: `¥12万`, `¥1.5亿`, `¥12k`, `¥1.5M`.
    pub fn yuan(self, v: f64) -> String {
        format!("¥{}", self.number(v))
    }

    /// A short number for an axis tick (GPU-hours, counts).
    pub fn number(self, v: f64) -> String {
        let a = v.abs();
        let (scaled, unit) = match self {
            Units::Zh if a >= 1e8 => (v / 1e8, "亿"),
            Units::Zh if a >= 1e4 => (v / 1e4, "万"),
            Units::En if a >= 1e9 => (v / 1e9, "B"),
            Units::En if a >= 1e6 => (v / 1e6, "M"),
            Units::En if a >= 1e3 => (v / 1e3, "k"),
            _ => (v, ""),
        };
        let s = if scaled.fract().abs() < 1e-9 || scaled.abs() >= 100.0 {
            format!("{scaled:.0}")
        } else {
            let s = format!("{scaled:.1}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        format!("{s}{unit}")
    }
}

/// The SVG text, made an accessible image: `role="img"` and a label (the page also shows
/// the exact figures in a table next to it).
fn finish(svg: String, label: &str) -> String {
    let mut escaped = String::with_capacity(label.len());
    for c in label.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{escaped}\" class=\"chart\" "), 1)
}

/// A "nice" upper bound for an axis that must show `max` (at least 1).
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let e = 10f64.powf(max.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * e >= max * 1.04 {
            return m * e;
        }
    }
    10.0 * e
}

fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, f64::from(size)).into_font()).color(&INK)
}

type Result<T> = std::result::Result<T, String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A running total over days (the subsidy committed in a cap year), with the budget as a
/// dashed line when there is one. `days`: (day number, total after that day), ascending;
/// `span`: the first and last day of the axis; `ticks`: (day, label) for the x axis.
pub fn running_total(
    days: &[(i64, f64)],
    span: (i64, i64),
    ticks: &[(i64, String)],
    budget: Option<(f64, String)>,
    units: Units,
    label: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = days.iter().map(|d| d.1).fold(0.0, f64::max).max(budget.as_ref().map_or(0.0, |b| b.0));
        let ymax = nice_max(top);
        let keys: Vec<i64> = ticks.iter().map(|t| t.0).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(30)
            .y_label_area_size(76)
            .build_cartesian_2d((span.0..span.1 + 1).with_key_points(keys), 0f64..ymax)
            .map_err(err)?;
        let fmt_x = |d: &i64| ticks.iter().find(|t| t.0 == *d).map(|t| t.1.clone()).unwrap_or_default();
        let fmt_y = |v: &f64| units.yuan(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .y_labels(6)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .label_style(text(18))
            .draw()
            .map_err(err)?;
        if !days.is_empty() {
            // A step line: the total holds until the next day something is logged.
            let mut pts = vec![(days[0].0, 0.0)];
            let mut last = 0.0;
            for &(d, v) in days {
                pts.push((d, last));
                pts.push((d, v));
                last = v;
            }
            pts.push((span.1 + 1, last));
            chart
                .draw_series(AreaSeries::new(pts.clone(), 0.0, RENTER.mix(0.12)).border_style(RENTER.stroke_width(2)))
                .map_err(err)?;
        }
        if let Some((b, text_label)) = budget {
            let dashes = (0..48).map(|i| {
                let w = (span.1 + 1 - span.0) as f64 / 48.0;
                let x0 = span.0 + (i as f64 * w) as i64;
                let x1 = span.0 + ((i as f64 + 0.6) * w) as i64;
                PathElement::new(vec![(x0, b), (x1, b)], BUDGET.stroke_width(2))
            });
            chart.draw_series(dashes).map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    text_label,
                    (span.0 + 2, b),
                    text(18).color(&BUDGET).pos(Pos::new(HPos::Left, VPos::Bottom)),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(finish(svg, label))
}

/// Stacked bars, one per category on the x axis (months): `values[i][s]` is series `s`
/// of category `i`, drawn bottom up in the order of `colors`.
pub fn stacked_columns(
    categories: &[String],
    values: &[Vec<f64>],
    colors: &[RGBColor],
    units: Units,
    label: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = categories.len().max(1);
        let top = values.iter().map(|v| v.iter().filter(|x| **x > 0.0).sum::<f64>()).fold(0.0, f64::max);
        let ymax = nice_max(top);
        let keys: Vec<i64> = (0..n as i64).map(|i| i * 100 + 50).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(30)
            .y_label_area_size(76)
            .build_cartesian_2d((0i64..n as i64 * 100).with_key_points(keys), 0f64..ymax)
            .map_err(err)?;
        let fmt_x = |x: &i64| categories.get((*x / 100) as usize).cloned().unwrap_or_default();
        let fmt_y = |v: &f64| units.yuan(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .y_labels(6)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .label_style(text(18))
            .draw()
            .map_err(err)?;
        let mut bars = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let mut base = 0.0;
            for (s, &x) in v.iter().enumerate() {
                if x <= 0.0 {
                    continue;
                }
                let c = colors[s % colors.len()];
                let i = i as i64 * 100;
                bars.push(Rectangle::new([(i + 18, base), (i + 82, base + x)], c.filled()));
                base += x;
            }
        }
        chart.draw_series(bars).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, label))
}

/// Grouped columns: for each category, one column per series (counts of entities).
pub fn grouped_columns(
    categories: &[String],
    values: &[Vec<f64>],
    colors: &[RGBColor],
    units: Units,
    label: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (600, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = categories.len().max(1);
        let top = values.iter().flatten().copied().fold(0.0, f64::max);
        let ymax = nice_max(top.max(4.0));
        let keys: Vec<i64> = (0..n as i64).map(|i| i * 100 + 50).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d((0i64..n as i64 * 100).with_key_points(keys), 0f64..ymax)
            .map_err(err)?;
        let fmt_x = |x: &i64| categories.get((*x / 100) as usize).cloned().unwrap_or_default();
        let fmt_y = |v: &f64| if v.fract() == 0.0 { units.number(*v) } else { String::new() };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .y_labels(5)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .label_style(text(18))
            .draw()
            .map_err(err)?;
        let groups = values.first().map_or(1, Vec::len).max(1);
        let w = 70 / groups as i64;
        let mut bars = Vec::new();
        let mut labels = Vec::new();
        for (i, v) in values.iter().enumerate() {
            for (s, &x) in v.iter().enumerate() {
                let x0 = i as i64 * 100 + 15 + s as i64 * w;
                let c = colors[s % colors.len()];
                bars.push(Rectangle::new([(x0, 0.0), (x0 + w * 9 / 10, x)], c.filled()));
                labels.push(Text::new(
                    units.number(x),
                    (x0 + w * 9 / 20, x),
                    text(17).pos(Pos::new(HPos::Center, VPos::Bottom)),
                ));
            }
        }
        chart.draw_series(bars).map_err(err)?;
        chart.draw_series(labels).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, label))
}

/// Horizontal bars, one row per item, largest first as given: `(row label, segments,
/// value label)`; segments are stacked left to right in the order of `colors`.
pub fn bars(rows: &[(String, Vec<f64>, String)], colors: &[RGBColor], units: Units, label: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let n = rows.len().max(1);
        let height = 44 + 46 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (600, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = rows.iter().map(|r| r.1.iter().filter(|x| **x > 0.0).sum::<f64>()).fold(0.0, f64::max);
        let xmax = nice_max(top) * 1.25;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_left(8)
            .margin_right(28)
            .x_label_area_size(26)
            .y_label_area_size(0)
            .build_cartesian_2d(0f64..xmax, 0f64..n as f64)
            .map_err(err)?;
        let fmt_x = |v: &f64| units.number(*v);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .x_labels(5)
            .y_labels(0)
            .x_label_formatter(&fmt_x)
            .label_style(text(17))
            .draw()
            .map_err(err)?;
        // Row labels sit above each bar, inside the plot, so long Chinese names need no
        // guessed label width.
        let mut shapes = Vec::new();
        let mut texts = Vec::new();
        for (i, (name, segs, value)) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut base = 0.0;
            for (s, &x) in segs.iter().enumerate() {
                if x <= 0.0 {
                    continue;
                }
                let c = colors[s % colors.len()];
                shapes.push(Rectangle::new([(base, y + 0.1), (base + x, y + 0.5)], c.filled()));
                base += x;
            }
            texts.push(Text::new(name.clone(), (0.0, y + 0.56), text(18).pos(Pos::new(HPos::Left, VPos::Bottom))));
            texts.push(Text::new(
                value.clone(),
                (base + xmax * 0.01, y + 0.3),
                text(17).pos(Pos::new(HPos::Left, VPos::Center)),
            ));
        }
        chart.draw_series(shapes).map_err(err)?;
        chart.draw_series(texts).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_read_in_each_language() {
        assert_eq!(Units::Zh.yuan(120_000.0), "¥12万");
        assert_eq!(Units::Zh.yuan(150_000_000.0), "¥1.5亿");
        assert_eq!(Units::Zh.yuan(800.0), "¥800");
        assert_eq!(Units::En.yuan(120_000.0), "¥120k");
        assert_eq!(Units::En.yuan(2_500_000.0), "¥2.5M");
        assert_eq!(Units::En.number(0.0), "0");
    }

    #[test]
    fn labels_are_escaped_and_carry_the_cjk_font_list() {
        let rows = vec![("<script>alert(1)</script>".to_string(), vec![5.0], "¥5".to_string())];
        let svg = bars(&rows, &[RENTER], Units::Zh, "前十名 \"x\"").unwrap();
        assert!(!svg.contains("<script>"), "entity text is escaped");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("Noto Sans CJK SC"), "text elements name CJK fonts");
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"前十名 &quot;x&quot;\""));
    }

    #[test]
    fn every_chart_renders_with_no_data() {
        let ticks = vec![(0, "1月".to_string())];
        running_total(&[], (0, 30), &ticks, None, Units::Zh, "a").unwrap();
        running_total(&[(3, 10.0)], (0, 30), &ticks, Some((100.0, "预算".into())), Units::Zh, "a").unwrap();
        stacked_columns(&[], &[], &[RENTER], Units::En, "b").unwrap();
        grouped_columns(&["x".into()], &[vec![0.0, 0.0]], &[RENTER, SUPPLIER], Units::En, "c").unwrap();
        bars(&[], &[RENTER], Units::En, "d").unwrap();
    }
}
