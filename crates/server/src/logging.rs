//! The daemon's log: containerd's level names, text or JSON lines (JSON
//! with containerd's field names `time`, `level`, `msg`, then the event's
//! own fields such as `namespace` and `id`), colour only when stderr is a
//! terminal, and the HTTP/2 stack's per-frame chatter held at `warn` unless
//! `RUST_LOG` asks for it.

use std::fmt;
use std::io::IsTerminal;

use crated_config::{LogFormat, LogLevel};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Libraries that log every frame or connection at `debug`/`trace`.
const NOISY: [&str; 8] = [
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "rustls",
    "reqwest",
    "mio",
];

/// The filter for `level`: `RUST_LOG`'s directives when given (the
/// operator asked for exactly those), otherwise `level` for crated with
/// `NOISY` libraries at `warn` at most.
pub fn filter(level: LogLevel, rust_log: Option<&str>) -> Result<EnvFilter, crated_core::Error> {
    if let Some(directives) = rust_log.filter(|d| !d.trim().is_empty()) {
        return EnvFilter::try_new(directives).map_err(|e| {
            crated_core::Error::with_source(
                crated_core::ErrorKind::InvalidArgument,
                format_args!("RUST_LOG={directives:?} is not a valid filter"),
                e,
            )
        });
    }
    let base = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error | LogLevel::Fatal | LogLevel::Panic => "error",
    };
    let noisy = if level >= LogLevel::Warn {
        base
    } else {
        "warn"
    };
    let mut directives = base.to_owned();
    for target in NOISY {
        directives.push_str(&format!(",{target}={noisy}"));
    }
    EnvFilter::try_new(&directives).map_err(|e| {
        crated_core::Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("log filter {directives:?}"),
            e,
        )
    })
}

/// Installs the daemon's log on stderr.
pub fn init(level: LogLevel, format: LogFormat) -> Result<(), crated_core::Error> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(level, rust_log.as_deref())?;
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(filter, format, ansi, std::io::stderr);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| {
        crated_core::Error::with_source(
            crated_core::ErrorKind::Internal,
            "installing the logger",
            e,
        )
    })
}

/// The subscriber writing `format` lines to `writer`; `ansi` turns on
/// colour (text only).
pub fn subscriber<W>(
    filter: EnvFilter,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.with_ansi(false).event_format(JsonLines).finish()),
    }
}

/// One JSON object a line, containerd's (logrus's) field names.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut object = serde_json::Map::new();
        object.insert(
            "time".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                .into(),
        );
        let level = match *event.metadata().level() {
            tracing::Level::TRACE => "trace",
            tracing::Level::DEBUG => "debug",
            tracing::Level::INFO => "info",
            tracing::Level::WARN => "warning",
            tracing::Level::ERROR => "error",
        };
        object.insert("level".into(), level.into());
        object.insert("msg".into(), "".into());
        event.record(&mut JsonFields(&mut object));
        if event.metadata().target() == "shim" {
            object.insert("source".into(), "shim".into());
        }
        writeln!(writer, "{}", serde_json::Value::Object(object))
    }
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        let name = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(
        level: LogLevel,
        rust_log: Option<&str>,
        format: LogFormat,
        ansi: bool,
        emit: impl FnOnce(),
    ) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = subscriber(filter(level, rust_log).unwrap(), format, ansi, move || {
            out.clone()
        });
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_lines_use_containerd_field_names() {
        let out = capture(LogLevel::Info, None, LogFormat::Json, true, || {
            tracing::warn!(namespace = "default", id = "c1", pid = 42, "task exited");
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["level"], "warning", "{out}");
        assert_eq!(line["msg"], "task exited", "{out}");
        assert_eq!(line["namespace"], "default", "{out}");
        assert_eq!(line["id"], "c1", "{out}");
        assert_eq!(line["pid"], 42, "{out}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap()).is_ok(),
            "{out}"
        );
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }

    #[test]
    fn text_without_a_terminal_has_no_colour() {
        let out = capture(LogLevel::Info, None, LogFormat::Text, false, || {
            tracing::info!(id = "c1", "serving");
        });
        assert!(out.contains("serving"), "{out}");
        assert!(!out.contains('\u{1b}'), "{out:?}");
        let coloured = capture(LogLevel::Info, None, LogFormat::Text, true, || {
            tracing::info!("serving");
        });
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    }

    #[test]
    fn dependency_noise_is_held_at_warn_unless_rust_log_asks() {
        let emit = || {
            tracing::debug!(target: "h2::codec", "frame received");
            tracing::debug!(target: "crated_server::daemon", "crated detail");
            tracing::warn!(target: "h2::proto", "connection reset");
        };
        let out = capture(LogLevel::Debug, None, LogFormat::Text, false, emit);
        assert!(!out.contains("frame received"), "{out}");
        assert!(out.contains("crated detail"), "{out}");
        assert!(out.contains("connection reset"), "{out}");
        let out = capture(
            LogLevel::Info,
            Some("h2=debug"),
            LogFormat::Text,
            false,
            emit,
        );
        assert!(out.contains("frame received"), "{out}");
        assert!(!out.contains("crated detail"), "{out}");
    }

    #[test]
    fn warning_fatal_and_panic_do_not_silence_errors() {
        for level in [LogLevel::Warn, LogLevel::Fatal, LogLevel::Panic] {
            let out = capture(level, None, LogFormat::Text, false, || {
                tracing::error!("metadata store failed");
                tracing::info!("routine");
            });
            assert!(out.contains("metadata store failed"), "{level}: {out}");
            assert!(!out.contains("routine"), "{level}: {out}");
        }
    }
}
