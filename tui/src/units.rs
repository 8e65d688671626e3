//! Human units for the views: byte counts, rates, ages and text sparklines.

/// `1536` → `1.5K`; powers of 1024, one decimal below 10.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

/// Bytes per second, `1.5K/s`.
pub fn rate(bytes_per_sec: f64) -> String {
    format!("{}/s", bytes(bytes_per_sec.max(0.0).round() as u64))
}

/// `75.0` → `1m15s`.
pub fn age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The last `width` samples as block characters scaled to their maximum.
pub fn sparkline(samples: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &samples[samples.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0);
    let mut out: String = " ".repeat(width.saturating_sub(tail.len()));
    for v in tail {
        let c = if max == 0 || *v == 0 {
            ' '
        } else {
            let idx = ((*v as f64 / max as f64) * 7.0).round() as usize;
            BARS[idx.min(7)]
        };
        out.push(c);
    }
    out
}

/// Truncates to `width` characters with a trailing `…`.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536), "1.5K");
        assert_eq!(bytes(52_311), "51K");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0M");
    }

    #[test]
    fn ages_pick_two_units() {
        assert_eq!(age(12.5), "12s");
        assert_eq!(age(75.0), "1m15s");
        assert_eq!(age(7322.0), "2h02m");
    }

    #[test]
    fn sparkline_pads_and_scales() {
        assert_eq!(sparkline(&[0, 4, 8], 5), "   ▅█");
        assert_eq!(sparkline(&[1, 2, 3, 4], 2), "▆█");
    }
}
