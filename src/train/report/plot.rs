//! `--plot FILE.svg`: the loss and every metric per epoch as an SVG chart, one
//! panel per quantity with a training and a validation line (SPEC section 11).
//!
//! Drawn with plotters' SVG backend and no font feature: the SVG holds `<text>`
//! elements that the viewer renders, and plotters lays labels out with its
//! built-in size estimate, so no system font is read (or needed). The file is
//! written atomically and redrawn after every epoch, so an interrupted run
//! still has a complete chart of the epochs it finished.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::error::{ReportError, ReportErrorKind};
use super::human::sig4;
use super::record::EpochRecord;
use crate::data::write_atomic;

const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);
const PANEL_SIZE: (u32, u32) = (560, 380);
const FONT: &str = "sans-serif";
/// Markers on the points are drawn up to this many epochs; past it they
/// would hide the line.
const MARKERS_UP_TO: usize = 40;
/// Magnitudes beyond this are drawn at it: plotters computes tick positions in
/// f64, which a range wider than about 1e308 would overflow.
const LARGEST: f64 = 1e300;
/// Magnitudes below this are drawn as 0, where they are on a linear axis
/// anyway: tick steps near the subnormals lose their precision.
const SMALLEST: f64 = 1e-200;

/// Draws `records` (the epochs so far, in order) and writes the SVG to `path`
/// atomically, replacing the previous chart.
pub fn write_plot(path: &Path, records: &[EpochRecord]) -> Result<(), ReportError> {
    let svg = render(records).map_err(|e| {
        ReportError::new(
            ReportErrorKind::Io,
            path,
            format!("cannot draw the chart: {e}"),
        )
    })?;
    write_atomic(path, svg.as_bytes())
        .map_err(|e| ReportError::new(ReportErrorKind::Io, path, e.message()))
}

/// Refuses, before training starts, a chart path whose extension is not
/// `.svg` ([`ReportErrorKind::Refused`]) or whose directory does not exist, so
/// that a typo does not surface only after the first epoch.
pub fn check_plot_path(path: &Path) -> Result<(), ReportError> {
    let is_svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !is_svg {
        return Err(ReportError::new(
            ReportErrorKind::Refused,
            path,
            "a chart file must be named *.svg",
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(ReportError::new(
            ReportErrorKind::Refused,
            path,
            format!("cannot write the chart: no directory '{}'", dir.display()),
        ));
    }
    Ok(())
}

/// One quantity's points: (epoch, value) per record that has it.
struct Series {
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
}

/// The quantities to draw, in order: the training names (`loss` first, then
/// the metrics in program order), then any only validation has.
fn quantities(records: &[EpochRecord]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let all = records.iter().flat_map(|r| {
        r.train
            .iter()
            .chain(r.val.iter().flatten())
            .map(|(name, _)| name)
    });
    for name in all {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn series(records: &[EpochRecord], name: &str) -> Series {
    let pick = |values: &[(String, f64)], epoch: usize| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, x)| (epoch as f64, *x))
    };
    Series {
        train: records
            .iter()
            .filter_map(|r| pick(&r.train, r.epoch))
            .collect(),
        val: records
            .iter()
            .filter_map(|r| r.val.as_deref().and_then(|v| pick(v, r.epoch)))
            .collect(),
    }
}

/// The SVG text of the whole chart.
fn render(records: &[EpochRecord]) -> Result<String, String> {
    let names = quantities(records);
    let n = names.len().max(1);
    let cols = match n {
        1 | 2 => n,
        4 => 2,
        _ => 3,
    };
    let rows = n.div_ceil(cols);
    let size = (
        PANEL_SIZE
            .0
            .saturating_mul(u32::try_from(cols).unwrap_or(3)),
        PANEL_SIZE
            .1
            .saturating_mul(u32::try_from(rows).unwrap_or(u32::MAX)),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if names.is_empty() {
            root.draw(&Text::new(
                "no epochs yet",
                (20, 30),
                (FONT, 18).into_font().color(&BLACK),
            ))
            .map_err(|e| e.to_string())?;
        }
        let epochs = (
            records.iter().map(|r| r.epoch).min().unwrap_or(1),
            records.iter().map(|r| r.epoch).max().unwrap_or(1),
        );
        for (area, name) in root.split_evenly((rows, cols)).iter().zip(&names) {
            panel(area, name, &series(records, name), epochs)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// One panel: `name` over the epochs, train and val lines, a legend.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    name: &str,
    s: &Series,
    (first, last): (usize, usize),
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let x_range = x_range(first, last);
    let y_range = y_range(s.train.iter().chain(&s.val).map(|&(_, y)| y));
    let mut chart = ChartBuilder::on(area)
        .caption(name, (FONT, 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(err)?;
    let epoch_ticks = last.saturating_sub(first).saturating_add(1).clamp(2, 10);
    let x_label = |x: &f64| {
        if (x - x.round()).abs() < 1e-9 {
            format!("{}", x.round())
        } else {
            String::new()
        }
    };
    // A tick meant to be 0 comes out of plotters' arithmetic as 5.6e-17.
    let zero_below = (y_range.1 - y_range.0) * 1e-9;
    let y_label = |y: &f64| {
        if y.abs() < zero_below {
            "0".to_string()
        } else {
            tick_label(*y)
        }
    };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(name)
        .x_labels(epoch_ticks)
        .y_labels(6)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .bold_line_style(RGBColor(220, 220, 220))
        .light_line_style(RGBColor(242, 242, 242))
        .draw()
        .map_err(err)?;

    let markers = last.saturating_sub(first) < MARKERS_UP_TO;
    let mut labelled = false;
    for (points, color, label) in [(&s.train, TRAIN_COLOR, "train"), (&s.val, VAL_COLOR, "val")] {
        let mut first_segment = true;
        for segment in finite_runs(points) {
            let line = LineSeries::new(segment, color.stroke_width(2)).point_size(if markers {
                3
            } else {
                0
            });
            let drawn = chart.draw_series(line).map_err(err)?;
            if first_segment {
                first_segment = false;
                labelled = true;
                drawn.label(label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
                });
            }
        }
    }
    if !labelled {
        // Only NaN or infinite values (a diverged run): say so rather than
        // leave an empty frame.
        let centre = ((x_range.0 + x_range.1) / 2.0, (y_range.0 + y_range.1) / 2.0);
        let style = TextStyle::from((FONT, 15).into_font())
            .color(&RGBColor(120, 120, 120))
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .plotting_area()
            .draw(&Text::new("no finite values", centre, style))
            .map_err(err)?;
    } else {
        chart
            .configure_series_labels()
            .position(legend_position(&s.train))
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(190, 190, 190))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// Epochs `first..=last` with a little room, so the end points are not drawn
/// on the axes.
fn x_range(first: usize, last: usize) -> (f64, f64) {
    let (a, b) = (first as f64, last as f64);
    let pad = ((b - a) * 0.03).max(0.25);
    (a - pad, b + pad)
}

/// The finite values' range with 5 % room (a constant gets some too); [0, 1]
/// when nothing is finite.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for y in values.filter(|y| y.is_finite()).map(drawable) {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let scale = lo.abs().max(hi.abs());
    let pad = if span > scale * 1e-9 {
        span * 0.05
    } else if scale > 0.0 {
        scale * 0.05
    } else {
        0.5
    };
    (lo - pad, hi + pad)
}

/// A finite value as it is drawn: see [`LARGEST`] and [`SMALLEST`].
fn drawable(y: f64) -> f64 {
    if y.abs() < SMALLEST {
        0.0
    } else {
        y.clamp(-LARGEST, LARGEST)
    }
}

/// Consecutive finite points, as separate lines: a NaN epoch is a gap.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|(_, y)| !y.is_finite())
        .filter(|run| !run.is_empty())
        .map(|run| run.iter().map(|&(x, y)| (x, drawable(y))).collect())
        .collect()
}

/// The legend goes where the training line is not: upper right when it falls
/// (a loss), lower right when it rises (an accuracy).
fn legend_position(train: &[(f64, f64)]) -> SeriesLabelPosition {
    let finite: Vec<f64> = train
        .iter()
        .map(|&(_, y)| y)
        .filter(|y| y.is_finite())
        .collect();
    match (finite.first(), finite.last()) {
        (Some(a), Some(b)) if b > a => SeriesLabelPosition::LowerRight,
        _ => SeriesLabelPosition::UpperRight,
    }
}

/// A tick value: four significant digits without trailing zeros (`0.15`,
/// `1`, `2.5e-5`).
fn tick_label(y: f64) -> String {
    let s = sig4(y);
    let (mantissa, exponent) = match s.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (s.as_str(), None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    let mantissa = if mantissa == "-0" { "0" } else { mantissa };
    match exponent {
        Some(e) => format!("{mantissa}e{e}"),
        None => mantissa.to_string(),
    }
}
