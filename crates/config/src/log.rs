//! `[debug] level` and `format`, with containerd's (logrus's) names.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;

/// A log level as containerd names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation (the default).
    Info,
    /// `warn` or `warning`.
    Warn,
    /// Errors only.
    Error,
    /// containerd's `fatal`: only what stops the daemon; crated logs its
    /// errors at this level.
    Fatal,
    /// containerd's `panic`: as `fatal` for crated, which logs no panics.
    Panic,
}

impl LogLevel {
    /// The name containerd writes in a log line's `level` field.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warning",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
            LogLevel::Panic => "panic",
        }
    }
}

impl FromStr for LogLevel {
    type Err = ConfigError;

    /// containerd's names; empty means `info`; anything else is an error.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Ok(match s {
            "" | "info" => LogLevel::Info,
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "fatal" => LogLevel::Fatal,
            "panic" => LogLevel::Panic,
            other => {
                return Err(ConfigError::LogLevel {
                    value: other.to_owned(),
                });
            }
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `[debug] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line with containerd's field names.
    Json,
}

impl FromStr for LogFormat {
    type Err = ConfigError;

    /// `text` or `json`; empty means `text`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::LogFormat {
                value: other.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn containerd_level_names() {
        for (name, level) in [
            ("", LogLevel::Info),
            ("trace", LogLevel::Trace),
            ("debug", LogLevel::Debug),
            ("info", LogLevel::Info),
            ("warn", LogLevel::Warn),
            ("warning", LogLevel::Warn),
            ("error", LogLevel::Error),
            ("fatal", LogLevel::Fatal),
            ("panic", LogLevel::Panic),
        ] {
            assert_eq!(name.parse::<LogLevel>().unwrap(), level, "{name}");
        }
        let err = "verbose".parse::<LogLevel>().err().unwrap();
        assert!(err.to_string().contains("\"verbose\""), "{err}");
        assert!(err.to_string().contains("warning"), "{err}");
    }

    #[test]
    fn formats() {
        assert_eq!("".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
