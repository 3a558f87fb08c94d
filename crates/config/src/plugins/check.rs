//! Checking every file's `[plugins."<type>.<id>"]` sections against the
//! typed options of the plugins crated has.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use toml::{Table, Value};

use super::PluginSchema;
use crate::error::ConfigError;
use crate::load::LoadedConfig;

/// One plugin crated has, as the config check sees it.
#[derive(Debug, Clone, Copy)]
pub struct PluginSpec<'a> {
    /// The plugin type, e.g. `io.containerd.gc.v1`.
    pub plugin_type: &'a str,
    /// The plugin id, e.g. `scheduler`.
    pub id: &'a str,
    /// Its options.
    pub schema: PluginSchema,
}

impl LoadedConfig {
    /// Checks each loaded file's plugin sections against `plugins`: a value
    /// of the wrong type is an error naming the file, line and column; a
    /// key the plugin does not have, or a section for a plugin crated does
    /// not have, is a warning (returned, one sentence each).
    pub fn check_plugins(&self, plugins: &[PluginSpec<'_>]) -> Result<Vec<String>, ConfigError> {
        let mut warnings = Vec::new();
        for source in &self.sources {
            let Some(Value::Table(sections)) = source.table.get("plugins") else {
                continue;
            };
            for (key, raw) in sections {
                let spec = plugins.iter().find(|p| {
                    let uri = format!("{}.{}", p.plugin_type, p.id);
                    *key == uri || (source.version <= 1 && *key == p.id)
                });
                if let Some(folded) = raw
                    .as_table()
                    .and_then(|section| crate::cri_v3::fold_section(key, section))
                {
                    let cri = plugins
                        .iter()
                        .find(|p| format!("{}.{}", p.plugin_type, p.id) == crate::migrate::CRI);
                    if let Some(cri) = cri {
                        warnings.extend(check_cri_v3_section(source, key, cri, folded));
                        continue;
                    }
                }
                let Some(spec) = spec else {
                    // Names not of the `<type>.<id>` form are reported by
                    // the loader already.
                    if source.version <= 1 || key.split('.').count() >= 4 {
                        warnings.push(format!(
                            "section [plugins.{key:?}] in {} configures a plugin crated does not \
                             have; it is ignored",
                            source.path.display()
                        ));
                    }
                    continue;
                };
                (spec.schema.decode)(&source.text, key).map_err(
                    |e| match ConfigError::from_toml(&source.path, &source.text, &e) {
                        ConfigError::Parse {
                            path,
                            line,
                            column,
                            message,
                        } => ConfigError::Parse {
                            path,
                            line,
                            column,
                            message: format!("in section [plugins.{key:?}]: {message}"),
                        },
                        other => other,
                    },
                )?;
                warnings.extend((spec.schema.inert)(raw.clone()));
                let Value::Table(section) = raw else {
                    continue;
                };
                let mut unknown = Vec::new();
                walk(
                    section,
                    &(spec.schema.known)(),
                    &mut Vec::new(),
                    &mut unknown,
                );
                warnings.extend(unknown.into_iter().map(|k| {
                    format!(
                        "unknown key {k:?} in section [plugins.{key:?}] of {} is ignored: \
                         plugin {}.{} has no such option",
                        source.path.display(),
                        spec.plugin_type,
                        spec.id
                    )
                }));
            }
        }
        Ok(warnings)
    }
}

/// The warnings for containerd 2.x's CRI section `key` (image service or
/// runtime), checked in the version 2 shape (`folded`) against the CRI
/// plugin `cri`: keys it does not act on, and keys it does not have.
fn check_cri_v3_section(
    source: &crate::load::SourceFile,
    key: &str,
    cri: &PluginSpec<'_>,
    folded: Table,
) -> Vec<String> {
    let mut unknown = Vec::new();
    walk(
        &folded,
        &(cri.schema.known)(),
        &mut Vec::new(),
        &mut unknown,
    );
    let mut warnings = (cri.schema.inert)(Value::Table(folded));
    warnings.extend(unknown.into_iter().map(|k| {
        format!(
            "unknown key in section [plugins.{key:?}] of {} is ignored: plugin {}.{} has no \
             option {k:?} (in the version 2 shape)",
            source.path.display(),
            cri.plugin_type,
            cri.id
        )
    }));
    warnings
}

/// Collects the dotted paths of keys in `table` that `schema` lacks. An
/// empty table in the schema is a free-form map (its keys are names, such
/// as runtime names) and is not descended into.
fn walk(table: &Table, schema: &Table, path: &mut Vec<String>, out: &mut Vec<String>) {
    for (key, value) in table {
        path.push(key.clone());
        match (schema.get(key), value) {
            (None, _) => out.push(path.join(".")),
            (Some(Value::Table(sub_schema)), Value::Table(sub)) if !sub_schema.is_empty() => {
                walk(sub, sub_schema, path, out)
            }
            _ => {}
        }
        path.pop();
    }
}

/// Decodes section `plugins.<key>` of the document `text` into `T`, so that
/// errors carry their position in the file.
pub(super) fn decode_section<T: DeserializeOwned>(
    text: &str,
    key: &str,
) -> Result<(), toml::de::Error> {
    let document = toml::Deserializer::parse(text)?;
    Find::<T> {
        key,
        plugins: true,
        _t: PhantomData,
    }
    .deserialize(document)
}

/// Walks a table: at the top level finds `plugins`, inside it finds `key`
/// and decodes that as `T`; everything else is skipped.
struct Find<'k, T> {
    key: &'k str,
    plugins: bool,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Find<'_, T> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Find<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            match (self.plugins, name == "plugins", name == self.key) {
                (true, true, _) => map.next_value_seed(Find::<T> {
                    key: self.key,
                    plugins: false,
                    _t: PhantomData,
                })?,
                (false, _, true) => {
                    map.next_value::<T>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::{GcConfig, NoConfig, PluginSchema, RuntimeConfig};
    use super::*;

    fn specs() -> Vec<PluginSpec<'static>> {
        vec![
            PluginSpec {
                plugin_type: "io.containerd.gc.v1",
                id: "scheduler",
                schema: PluginSchema::of::<GcConfig>(),
            },
            PluginSpec {
                plugin_type: "io.containerd.runtime.v2",
                id: "task",
                schema: PluginSchema::of::<RuntimeConfig>(),
            },
            PluginSpec {
                plugin_type: "io.containerd.grpc.v1",
                id: "version",
                schema: PluginSchema::of::<NoConfig>(),
            },
        ]
    }

    fn load(text: &str) -> (tempfile::TempDir, Result<Vec<String>, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::Config::load(&path).unwrap();
        let result = loaded.check_plugins(&specs());
        (dir, result)
    }

    #[test]
    fn wrong_types_name_file_line_and_column() {
        let (_dir, result) = load(
            "version = 3\n[plugins.\"io.containerd.gc.v1.scheduler\"]\n  pause_threshold = 0.1\n  schedule_delay = \"soon\"\n",
        );
        let err = result.err().unwrap();
        let ConfigError::Parse {
            line,
            column,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!((*line, *column), (4, 20), "{err}");
        assert!(message.contains("io.containerd.gc.v1.scheduler"), "{err}");
        assert!(message.contains("invalid duration"), "{err}");
        assert!(err.to_string().contains("config.toml"), "{err}");

        let (_dir, result) = load(
            "version = 2\n[plugins.\"io.containerd.gc.v1.scheduler\"]\nmutation_threshold = \"many\"\n",
        );
        let err = result.err().unwrap();
        assert!(matches!(err, ConfigError::Parse { line: 3, .. }), "{err}");
    }

    #[test]
    fn unknown_keys_and_plugins_are_warnings() {
        let (_dir, result) = load(
            r#"version = 2
[plugins."io.containerd.gc.v1.scheduler"]
  startup_delay = "1m30s"
  pause_treshold = 0.5
[plugins."io.containerd.runtime.v2.task".runtime_paths]
  "io.containerd.kata.v2" = "/usr/bin/containerd-shim-kata-v2"
[plugins."io.containerd.grpc.v1.version"]
  verbose = true
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause"
"#,
        );
        let warnings = result.unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:#?}");
        assert!(warnings[0].contains("\"pause_treshold\""), "{warnings:#?}");
        assert!(
            warnings[1].contains("io.containerd.grpc.v1.cri")
                && warnings[1].contains("does not have"),
            "{warnings:#?}"
        );
        assert!(warnings[2].contains("\"verbose\""), "{warnings:#?}");
    }

    #[test]
    fn version_3_cri_sections_are_checked_as_the_cri_plugins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            r#"version = 3
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "native"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "registry.k8s.io/pause:3.10"
[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = true
  no_such_option = 1
  [plugins."io.containerd.cri.v1.runtime".cni]
    conf_dir = "/etc/cni/net.d"
"#,
        )
        .unwrap();
        let loaded = crate::Config::load(&path).unwrap();
        let mut with_cri = specs();
        with_cri.push(PluginSpec {
            plugin_type: "io.containerd.grpc.v1",
            id: "cri",
            schema: PluginSchema::of::<super::super::CriConfig>(),
        });
        let warnings = loaded.check_plugins(&with_cri).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(
            warnings.iter().any(|w| w.contains("enable_cdi")),
            "{warnings:#?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("io.containerd.cri.v1.runtime") && w.contains("no_such_option")),
            "{warnings:#?}"
        );
        let cri: super::super::CriConfig = loaded
            .config
            .plugin_section("io.containerd.grpc.v1", "cri")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(cri.sandbox_image, "registry.k8s.io/pause:3.10");
        assert_eq!(cri.containerd.snapshotter, "native");
        assert_eq!(cri.cni.conf_dir, "/etc/cni/net.d");
    }

    #[test]
    fn version_1_sections_use_bare_ids() {
        let (_dir, result) = load("[plugins.scheduler]\n  deletion_threshold = -1\n");
        assert!(
            matches!(result, Err(ConfigError::Parse { line: 2, .. })),
            "{result:?}"
        );
    }
}
