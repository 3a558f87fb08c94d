//! Progress of pulls and pushes: bars on a terminal (one per blob and a
//! total, with bytes, speed and state), plain lines otherwise.
//!
//! A plain line is `<name>: <state> <bytes>/<total>` (the sizes in bytes,
//! left out for events without them). A line is printed when a blob's
//! state changes, and while it downloads or uploads at most once a second.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crated_client::transfer::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ProgressMode;
use crate::output::human;

/// The shortest time between two plain lines about one blob in the same
/// state.
const PLAIN_INTERVAL: Duration = Duration::from_secs(1);

/// Events about the image as a whole rather than one blob.
const IMAGE_EVENTS: [&str; 4] = ["resolving", "resolved", "saved", "pushed"];

/// One blob's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    name: String,
    state: String,
    progress: i64,
    total: i64,
}

/// The plain line for `name` in `state` with `progress` of `total` bytes.
pub fn plain_line(name: &str, state: &str, progress: i64, total: i64) -> String {
    if progress == 0 && total == 0 {
        format!("{name}: {state}")
    } else {
        format!("{name}: {state} {progress}/{total}")
    }
}

/// `sha256:` and the first 12 hex digits of a digest; anything else as is.
pub fn short_name(name: &str) -> String {
    match name.split_once(':') {
        Some((algorithm, hex)) if hex.len() > 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{algorithm}:{}", &hex[..12])
        }
        _ => name.to_string(),
    }
}

/// The summary printed at the end: bytes moved, time and speed.
pub fn summary(verb: &str, bytes: i64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let speed = if seconds > 0.0 {
        (bytes as f64 / seconds) as i64
    } else {
        0
    };
    format!(
        "{verb} {} in {seconds:.1}s ({}/s)",
        human::bytes(bytes),
        human::bytes(speed)
    )
}

/// Plain-line state: what was printed last for each name, and when.
#[derive(Debug, Default)]
struct PlainState {
    last: HashMap<String, (String, Instant)>,
}

impl PlainState {
    /// The line to print for `p` at `now`, if any.
    fn line(&mut self, p: &Progress, now: Instant) -> Option<String> {
        let due = match self.last.get(&p.name) {
            None => true,
            Some((state, at)) => state != &p.event || now.duration_since(*at) >= PLAIN_INTERVAL,
        };
        if !due {
            return None;
        }
        self.last.insert(p.name.clone(), (p.event.clone(), now));
        Some(plain_line(&p.name, &p.event, p.progress, p.total))
    }
}

enum Renderer {
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
        total: ProgressBar,
    },
    Plain(PlainState),
    Quiet,
}

/// Shows the progress reports of one transfer.
pub struct Tracker {
    renderer: Renderer,
    items: Vec<Item>,
    start: Instant,
    verb: &'static str,
}

impl Tracker {
    /// A tracker drawing as `mode` asks (`Auto`: bars when stdout is a
    /// terminal). `verb` names what happened in the summary (`pulled`).
    pub fn new(mode: ProgressMode, verb: &'static str) -> Tracker {
        let bars = match mode {
            ProgressMode::Auto => std::io::stdout().is_terminal(),
            ProgressMode::Tty => true,
            ProgressMode::Plain | ProgressMode::None => false,
        };
        let renderer = if bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
            let total = multi.add(ProgressBar::new(0));
            total.set_style(total_style());
            total.set_prefix("total");
            total.enable_steady_tick(Duration::from_millis(200));
            Renderer::Bars {
                multi,
                bars: HashMap::new(),
                total,
            }
        } else if mode == ProgressMode::None {
            Renderer::Quiet
        } else {
            Renderer::Plain(PlainState::default())
        };
        Tracker {
            renderer,
            items: Vec::new(),
            start: Instant::now(),
            verb,
        }
    }

    /// Takes one report.
    pub fn update(&mut self, p: Progress) {
        let image_event = IMAGE_EVENTS.contains(&p.event.as_str());
        if !image_event {
            let item = Item {
                name: p.name.clone(),
                state: p.event.clone(),
                progress: p.progress,
                total: p.total,
            };
            match self.items.iter_mut().find(|i| i.name == p.name) {
                Some(existing) => {
                    existing.state = item.state;
                    // Unpack events carry no sizes: keep the download's.
                    if p.total > 0 {
                        existing.progress = item.progress;
                        existing.total = item.total;
                    }
                }
                None => self.items.push(item),
            }
        }
        let (done, total) = self.totals();
        match &mut self.renderer {
            Renderer::Quiet => {}
            Renderer::Plain(state) => {
                if let Some(line) = state.line(&p, Instant::now()) {
                    println!("{line}");
                }
            }
            Renderer::Bars {
                multi,
                bars,
                total: total_bar,
            } => {
                if image_event {
                    let _ = multi.println(plain_line(&p.name, &p.event, 0, 0));
                } else {
                    let bar = bars.entry(p.name.clone()).or_insert_with(|| {
                        let bar = multi.insert_before(total_bar, ProgressBar::new(0));
                        bar.set_style(blob_style());
                        bar.set_prefix(short_name(&p.name));
                        bar
                    });
                    if p.total > 0 {
                        bar.set_length(p.total as u64);
                        bar.set_position(p.progress.max(0) as u64);
                    }
                    bar.set_message(p.event.clone());
                    if matches!(
                        p.event.as_str(),
                        "complete" | "already exists" | "mounted" | "unpacked"
                    ) {
                        bar.tick();
                    }
                }
                total_bar.set_length(total.max(0) as u64);
                total_bar.set_position(done.max(0) as u64);
            }
        }
    }

    fn totals(&self) -> (i64, i64) {
        self.items.iter().fold((0, 0), |(done, total), i| {
            (done + i.progress.min(i.total), total + i.total)
        })
    }

    /// Ends the display and prints the summary (on success).
    pub fn finish(self, ok: bool) {
        let (done, _) = self.totals();
        let line = summary(self.verb, done, self.start.elapsed());
        match self.renderer {
            Renderer::Quiet => {}
            Renderer::Plain(_) => {
                if ok {
                    println!("{line}");
                }
            }
            Renderer::Bars { multi, bars, total } => {
                // The bars stay on screen with their last state.
                for bar in bars.values() {
                    bar.finish();
                }
                total.finish();
                drop(multi);
                if ok {
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "{line}");
                }
            }
        }
    }
}

fn blob_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:19} {msg:14} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn total_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:19} {elapsed_precise:14} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(event: &str, name: &str, progress: i64, total: i64) -> Progress {
        Progress {
            event: event.into(),
            name: name.into(),
            progress,
            total,
            ..Default::default()
        }
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            plain_line("sha256:ab", "downloading", 10, 20),
            "sha256:ab: downloading 10/20"
        );
        assert_eq!(
            plain_line("localhost:5000/a:1", "resolving", 0, 0),
            "localhost:5000/a:1: resolving"
        );
        assert_eq!(plain_line("x", "complete", 0, 7), "x: complete 0/7");
    }

    #[test]
    fn short_names() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(short_name(&digest), "sha256:abababababab");
        assert_eq!(short_name("docker.io/a:1"), "docker.io/a:1");
        assert_eq!(short_name("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn summaries() {
        assert_eq!(
            summary("pulled", 2 << 20, Duration::from_secs(2)),
            "pulled 2.0 MiB in 2.0s (1.0 MiB/s)"
        );
        assert_eq!(
            summary("pushed", 0, Duration::ZERO),
            "pushed 0.0 B in 0.0s (0.0 B/s)"
        );
    }

    #[test]
    fn plain_lines_on_change_and_once_a_second() {
        let mut state = PlainState::default();
        let t0 = Instant::now();
        let d = "sha256:aa";
        assert!(state.line(&report("waiting", d, 0, 100), t0).is_some());
        assert_eq!(
            state
                .line(&report("downloading", d, 10, 100), t0)
                .as_deref(),
            Some("sha256:aa: downloading 10/100")
        );
        // Same state, too soon.
        assert!(
            state
                .line(
                    &report("downloading", d, 20, 100),
                    t0 + Duration::from_millis(500)
                )
                .is_none()
        );
        assert!(
            state
                .line(
                    &report("downloading", d, 30, 100),
                    t0 + Duration::from_millis(1100)
                )
                .is_some()
        );
        // A new state is always printed.
        assert_eq!(
            state
                .line(
                    &report("complete", d, 100, 100),
                    t0 + Duration::from_millis(1200)
                )
                .as_deref(),
            Some("sha256:aa: complete 100/100")
        );
        // Another blob has its own clock.
        assert!(
            state
                .line(
                    &report("downloading", "sha256:bb", 1, 2),
                    t0 + Duration::from_millis(1200)
                )
                .is_some()
        );
    }

    #[test]
    fn totals_keep_download_sizes_through_unpacking() {
        let mut tracker = Tracker::new(ProgressMode::None, "pulled");
        tracker.update(report("resolving", "r:1", 0, 0));
        tracker.update(report("waiting", "sha256:aa", 0, 100));
        tracker.update(report("waiting", "sha256:bb", 0, 50));
        tracker.update(report("downloading", "sha256:aa", 40, 100));
        assert_eq!(tracker.totals(), (40, 150));
        tracker.update(report("complete", "sha256:aa", 100, 100));
        tracker.update(report("already exists", "sha256:bb", 50, 50));
        tracker.update(report("unpacking", "sha256:aa", 0, 0));
        tracker.update(report("unpacked", "sha256:aa", 0, 0));
        assert_eq!(tracker.totals(), (150, 150));
        assert_eq!(tracker.items.len(), 2);
        assert_eq!(tracker.items[0].state, "unpacked");
        tracker.finish(true);
    }
}
