//! Errors raised while loading, parsing or serializing a configuration.

use std::io;
use std::path::{Path, PathBuf};

/// An error loading or producing crated's configuration.
///
/// Every variant that concerns a file names it; syntax and type errors also
/// carry the 1-based line and column where the problem was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file was given explicitly but does not exist.
    #[error("config file {} does not exist", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// A file named (not matched by a glob) in `imports` does not exist.
    #[error("config file {} imported by {} does not exist", path.display(), from.display())]
    ImportNotFound {
        /// The missing file.
        path: PathBuf,
        /// The file whose `imports` named it.
        from: PathBuf,
    },
    /// A config file exists but could not be read.
    #[error("failed to read {}: {source}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A config file is not valid TOML, or a known key has the wrong type.
    #[error("failed to parse {} at line {line}, column {column}: {message}", path.display())]
    Parse {
        /// The malformed file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column (in characters) of the problem.
        column: usize,
        /// What the parser expected or found.
        message: String,
    },
    /// A config file's content is invalid and no position is known.
    #[error("failed to parse {}: {message}", path.display())]
    Invalid {
        /// The invalid file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A config file declares a `version` crated does not understand.
    #[error(
        "unsupported config version {version} in {}: supported versions are 1, 2 and 3",
        path.display()
    )]
    UnsupportedVersion {
        /// The file declaring the version.
        path: PathBuf,
        /// The declared version.
        version: i64,
    },
    /// An entry of `imports` is a malformed glob pattern.
    #[error("invalid import pattern {pattern:?} in {}: {message}", path.display())]
    InvalidImport {
        /// The file whose `imports` holds the pattern.
        path: PathBuf,
        /// The offending pattern as written.
        pattern: String,
        /// Why the pattern is malformed.
        message: String,
    },
    /// A plugin's section could not be decoded into its typed options.
    #[error("invalid configuration for plugin {key:?}: {message}")]
    Plugin {
        /// The key of the plugin's section under `[plugins]`.
        key: String,
        /// Why decoding failed.
        message: String,
    },
    /// `[debug] level` (or `--log-level`) is not one of containerd's names.
    #[error(
        "invalid log level {value:?}: use trace, debug, info, warn, warning, error, fatal or panic"
    )]
    LogLevel {
        /// The level as given.
        value: String,
    },
    /// `[debug] format` is neither `text` nor `json`.
    #[error("invalid log format {value:?}: use text or json")]
    LogFormat {
        /// The format as given.
        value: String,
    },
    /// A `[timeouts]` entry is not a Go duration.
    #[error("invalid [timeouts] entry {key:?}: {source}")]
    Timeout {
        /// The timeout's key, e.g. `io.containerd.timeout.shim.load`.
        key: String,
        /// Why its value is not a duration.
        source: crate::duration::DurationError,
    },
    /// The configuration could not be rendered as TOML.
    #[error("failed to serialize config: {message}")]
    Serialize {
        /// Why serialization failed.
        message: String,
    },
}

impl ConfigError {
    /// Builds the error for a TOML parse or type error in `text`, read from
    /// `path`, converting the error's byte span into line and column.
    pub(crate) fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim_end().to_owned();
        match err.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                ConfigError::Parse {
                    path: path.to_owned(),
                    line,
                    column,
                    message,
                }
            }
            None => ConfigError::Invalid {
                path: path.to_owned(),
                message,
            },
        }
    }
}

/// Converts a byte offset into `text` into a 1-based (line, column) pair,
/// counting columns in characters.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::line_column;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let text = "a = 1\nbb = 2\nné = x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // "né = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, 13 + 6), (3, 6));
        assert_eq!(line_column(text, 1000), (4, 1));
    }
}
