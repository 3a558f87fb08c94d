//! Loading a config file and its imports into one effective [`Config`].

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::glob;
use crate::merge::merge_file;
use crate::model::{Config, SUPPORTED_VERSIONS};
use crate::unknown;

/// The result of loading: the effective configuration and what was learned
/// on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The effective configuration: defaults, the main file, then every
    /// import merged over it in load order.
    pub config: Config,
    /// Problems that do not stop the daemon (unknown keys, odd plugin keys,
    /// imports of another version), one sentence each naming the file.
    pub warnings: Vec<String>,
    /// The files imported (directly or not), in the order they were merged;
    /// the main file is not included.
    pub imported: Vec<PathBuf>,
    /// Every file read (the main file first), as written, for checks that
    /// need positions or per-file versions (see
    /// [`LoadedConfig::check_plugins`]).
    pub sources: Vec<SourceFile>,
}

/// One config file as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its effective version (absent or 0 means 1).
    pub version: i64,
    /// Its top-level table.
    pub table: toml::Table,
}

impl LoadedConfig {
    /// The result when there is no config file: the defaults, no warnings.
    pub fn defaults() -> Self {
        LoadedConfig {
            config: Config::default(),
            warnings: Vec::new(),
            imported: Vec::new(),
            sources: Vec::new(),
        }
    }
}

/// One parsed config file.
pub(crate) struct Document {
    /// The file as a raw TOML table.
    pub(crate) table: toml::Table,
    /// The file decoded on its own (absent keys at their defaults).
    pub(crate) config: Config,
    /// The file's effective version (absent or 0 means 1).
    pub(crate) version: i64,
}

/// Parses `text` (read from `path`): TOML syntax, the types of known keys and
/// the version.
pub(crate) fn parse_document(path: &Path, text: &str) -> Result<Document, ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
    let config: Config =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
    let version = match table.get("version").and_then(toml::Value::as_integer) {
        None | Some(0) => 1,
        Some(v) => v,
    };
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(ConfigError::UnsupportedVersion {
            path: path.to_owned(),
            version,
        });
    }
    Ok(Document {
        table,
        config,
        version,
    })
}

impl Config {
    /// Loads the config file at `path` and everything it imports.
    ///
    /// A missing `path` is an error ([`ConfigError::NotFound`]). Each
    /// `imports` entry is a path or, if it contains `*`, a glob; relative
    /// entries are relative to the importing file's directory. Files are
    /// loaded breadth-first, each at most once (so cycles are harmless), and
    /// merged over the defaults in that order (see the crate docs for the
    /// merge rules). The effective `version` is the main file's.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        Self::load_over(path, &Config::default())
    }

    /// Loads `path` like [`Config::load`], with `base` in place of crated's
    /// defaults for every key no file sets (e.g. containerd's paths).
    pub fn load_over(path: &Path, base: &Config) -> Result<LoadedConfig, ConfigError> {
        let mut merged = default_table(base)?;
        let mut warnings = Vec::new();
        let mut imported = Vec::new();
        let mut sources = Vec::new();
        let mut seen = HashSet::new();
        let mut main_version = None;
        let mut pending: VecDeque<(PathBuf, Option<PathBuf>)> =
            VecDeque::from([(path.to_owned(), None)]);

        while let Some((file, from)) = pending.pop_front() {
            if !seen.insert(identity(&file)) {
                continue;
            }
            let text = read(&file, from.as_deref())?;
            let doc = parse_document(&file, &text)?;
            tracing::debug!(path = %file.display(), version = doc.version, "loaded config file");

            warnings.extend(
                unknown::unknown_keys(&doc.table)
                    .into_iter()
                    .map(|key| format!("unknown key {key:?} in {} is ignored", file.display())),
            );
            warnings.extend(unknown::plugin_key_warnings(
                &doc.config,
                doc.version,
                &file,
            ));
            match main_version {
                None => main_version = Some(doc.version),
                Some(main) if main != doc.version => warnings.push(format!(
                    "{} declares config version {} but the main config has version {main}; \
                     its plugin sections are taken as written",
                    file.display(),
                    doc.version
                )),
                Some(_) => {}
            }

            for entry in &doc.config.imports {
                for target in resolve_import(&file, entry)? {
                    pending.push_back((target, Some(file.clone())));
                }
            }
            sources.push(SourceFile {
                path: file.clone(),
                text,
                version: doc.version,
                table: doc.table.clone(),
            });
            merge_file(&mut merged, doc.table);
            if from.is_some() {
                imported.push(file);
            }
        }

        let mut config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Invalid {
                    path: path.to_owned(),
                    message: e.message().trim_end().to_owned(),
                })?;
        config.version = main_version.unwrap_or(1);
        config.imports = imported.iter().map(|p| p.display().to_string()).collect();
        Ok(LoadedConfig {
            config,
            warnings,
            imported,
            sources,
        })
    }

    /// Loads `path` like [`Config::load`], except that when the path was not
    /// given `explicit`ly (it is the default location) and nothing exists
    /// there, the defaults are returned. A missing explicit file is an error.
    pub fn load_or_default(path: &Path, explicit: bool) -> Result<LoadedConfig, ConfigError> {
        Self::load_or_default_over(path, explicit, &Config::default())
    }

    /// [`Config::load_or_default`] with `base` in place of crated's defaults
    /// (see [`Config::load_over`]).
    pub fn load_or_default_over(
        path: &Path,
        explicit: bool,
        base: &Config,
    ) -> Result<LoadedConfig, ConfigError> {
        if !explicit
            && let Err(e) = fs::metadata(path)
            && e.kind() == io::ErrorKind::NotFound
        {
            tracing::debug!(path = %path.display(), "no config file, using defaults");
            return Ok(LoadedConfig {
                config: base.clone(),
                ..LoadedConfig::defaults()
            });
        }
        Self::load_over(path, base)
    }
}

/// The defaults as a raw table to merge files over; `version` and `imports`
/// are not merged and so are left out.
fn default_table(base: &Config) -> Result<toml::Table, ConfigError> {
    let mut table = toml::Table::try_from(base.clone()).map_err(|e| ConfigError::Serialize {
        message: e.to_string(),
    })?;
    table.remove("version");
    table.remove("imports");
    Ok(table)
}

/// Reads one config file; `from` is the importing file, if any.
fn read(path: &Path, from: Option<&Path>) -> Result<String, ConfigError> {
    fs::read_to_string(path).map_err(|source| match (source.kind(), from) {
        (io::ErrorKind::NotFound, None) => ConfigError::NotFound {
            path: path.to_owned(),
        },
        (io::ErrorKind::NotFound, Some(from)) => ConfigError::ImportNotFound {
            path: path.to_owned(),
            from: from.to_owned(),
        },
        _ => ConfigError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

/// What makes two paths the same file for the load-once rule.
fn identity(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Resolves one `imports` entry of `parent` into the files to load.
fn resolve_import(parent: &Path, entry: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let entry_path = Path::new(entry);
    let full = if entry_path.is_absolute() {
        entry_path.to_owned()
    } else {
        parent
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(entry_path)
    };
    let full: PathBuf = full.components().collect();
    if entry.contains('*') {
        glob::expand(&full).map_err(|message| ConfigError::InvalidImport {
            path: parent.to_owned(),
            pattern: entry.to_owned(),
            message,
        })
    } else {
        Ok(vec![full])
    }
}
