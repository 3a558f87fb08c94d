//! CNI network configuration lists, loaded as libcni loads them.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The file name endings libcni reads from a configuration directory.
const CONFIG_EXTENSIONS: [&str; 3] = ["conf", "conflist", "json"];

/// One network: a named chain of plugins sharing a CNI version.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkList {
    /// The network's name (`name`).
    pub name: String,
    /// The CNI version of the list (`cniVersion`).
    pub cni_version: String,
    /// Whether CHECK is disabled for this network (`disableCheck`).
    pub disable_check: bool,
    /// The plugins, in ADD order.
    pub plugins: Vec<PluginConf>,
    /// The list as JSON (what a result cache records for a later DEL).
    pub raw: Value,
}

/// One plugin of a network list.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConf {
    /// The plugin binary's name (`type`).
    pub plugin_type: String,
    /// The plugin's configuration object as written.
    pub raw: Map<String, Value>,
}

impl PluginConf {
    /// Whether the plugin declares `capability` (e.g. `portMappings`) in its
    /// `capabilities` map, and so is given that runtime argument.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.raw
            .get("capabilities")
            .and_then(|c| c.get(capability))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

impl NetworkList {
    /// Parses a `.conflist` document.
    pub fn from_list_bytes(path: &Path, bytes: &[u8]) -> Result<NetworkList> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid(path, e))?;
        Self::from_list_value(path, value)
    }

    /// Parses a single-plugin `.conf` document and wraps it into a list, as
    /// libcni's `ConfListFromConf` does.
    pub fn from_conf_bytes(path: &Path, bytes: &[u8]) -> Result<NetworkList> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid(path, e))?;
        let Value::Object(conf) = value else {
            return Err(invalid(path, "the document is not a JSON object"));
        };
        let name = string_field(path, &conf, "name")?;
        let version = conf
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if conf
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid(path, "network type not found (no \"type\" field)"));
        }
        let list = serde_json::json!({
            "cniVersion": version,
            "name": name,
            "plugins": [Value::Object(conf)],
        });
        Self::from_list_value(path, list)
    }

    /// Parses a list from its JSON value.
    pub fn from_list_value(path: &Path, value: Value) -> Result<NetworkList> {
        let Value::Object(list) = &value else {
            return Err(invalid(path, "the document is not a JSON object"));
        };
        let name = string_field(path, list, "name")?;
        let cni_version = list
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let disable_check = list
            .get("disableCheck")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let Some(Value::Array(items)) = list.get("plugins") else {
            return Err(invalid(path, "no \"plugins\" array in the config list"));
        };
        if items.is_empty() {
            return Err(invalid(path, "the config list has no plugins"));
        }
        let mut plugins = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(raw) = item else {
                return Err(invalid(path, format!("plugin {i} is not a JSON object")));
            };
            let plugin_type = raw
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid(path, format!("plugin {i} has no \"type\"")))?;
            if plugin_type.contains('/') {
                return Err(invalid(
                    path,
                    format!("plugin type {plugin_type:?} must be a binary name, not a path"),
                ));
            }
            plugins.push(PluginConf {
                plugin_type: plugin_type.to_string(),
                raw: raw.clone(),
            });
        }
        Ok(NetworkList {
            name,
            cni_version,
            disable_check,
            plugins,
            raw: value,
        })
    }

    /// The loopback network containerd's CRI sets up in every pod (interface
    /// `lo`) before the configured networks.
    pub fn loopback() -> NetworkList {
        let raw = serde_json::json!({
            "cniVersion": "0.3.1",
            "name": "cni-loopback",
            "plugins": [{"type": "loopback"}],
        });
        let mut conf = Map::new();
        conf.insert("type".into(), Value::String("loopback".into()));
        NetworkList {
            name: "cni-loopback".into(),
            cni_version: "0.3.1".into(),
            disable_check: false,
            plugins: vec![PluginConf {
                plugin_type: "loopback".into(),
                raw: conf,
            }],
            raw,
        }
    }
}

/// Loads up to `max` networks from `dir`: files ending in `.conf`,
/// `.conflist` or `.json`, in name order, as containerd's CRI does. A file
/// that does not parse is an error naming it; a directory with no
/// configuration is [`Error::NoConfig`].
pub fn load_dir(dir: &Path, max: usize) -> Result<Vec<NetworkList>> {
    let mut files = config_files(dir)?;
    files.sort();
    let mut networks = Vec::new();
    for path in files {
        if networks.len() >= max.max(1) {
            break;
        }
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            what: "reading CNI config",
            path: path.clone(),
            source,
        })?;
        let network = if path.extension().is_some_and(|e| e == "conflist") {
            NetworkList::from_list_bytes(&path, &bytes)?
        } else {
            NetworkList::from_conf_bytes(&path, &bytes)?
        };
        networks.push(network);
    }
    if networks.is_empty() {
        return Err(Error::NoConfig {
            dir: dir.to_path_buf(),
        });
    }
    Ok(networks)
}

fn config_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoConfig {
                dir: dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(Error::Io {
                what: "listing CNI config directory",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            what: "listing CNI config directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CONFIG_EXTENSIONS.contains(&e));
        if wanted && path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

fn string_field(path: &Path, obj: &Map<String, Value>, key: &str) -> Result<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| invalid(path, format!("missing or empty {key:?}")))
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::InvalidConfig {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn loads_lists_and_single_confs_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "20-second.conf",
            r#"{"cniVersion":"1.0.0","name":"second","type":"bridge"}"#,
        );
        write(
            dir.path(),
            "10-first.conflist",
            r#"{"cniVersion":"1.0.0","name":"first","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        );
        write(dir.path(), "README", "not a config");
        let nets = load_dir(dir.path(), 5).unwrap();
        let names: Vec<_> = nets.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(nets[0].plugins.len(), 2);
        assert!(nets[0].plugins[1].has_capability("portMappings"));
        assert!(!nets[0].plugins[0].has_capability("portMappings"));
        assert_eq!(nets[1].plugins[0].plugin_type, "bridge");
        assert_eq!(nets[1].cni_version, "1.0.0");
    }

    #[test]
    fn max_conf_num_bounds_the_networks() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.conf", r#"{"name":"a","type":"bridge"}"#);
        write(dir.path(), "b.conf", r#"{"name":"b","type":"bridge"}"#);
        assert_eq!(load_dir(dir.path(), 1).unwrap().len(), 1);
    }

    #[test]
    fn a_malformed_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "10-bad.conflist",
            r#"{"name":"x","plugins":[{}]}"#,
        );
        let err = load_dir(dir.path(), 1).unwrap_err().to_string();
        assert!(err.contains("10-bad.conflist"), "{err}");
        assert!(err.contains("no \"type\""), "{err}");

        write(dir.path(), "10-bad.conflist", "{not json");
        let err = load_dir(dir.path(), 1).unwrap_err().to_string();
        assert!(err.contains("invalid CNI config"), "{err}");
    }

    #[test]
    fn plugin_types_may_not_be_paths() {
        let err = NetworkList::from_list_bytes(
            Path::new("x.conflist"),
            br#"{"name":"x","plugins":[{"type":"../../bin/sh"}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("binary name"), "{err}");
    }

    #[test]
    fn an_empty_or_missing_directory_has_no_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_dir(dir.path(), 1),
            Err(Error::NoConfig { .. })
        ));
        assert!(matches!(
            load_dir(&dir.path().join("missing"), 1),
            Err(Error::NoConfig { .. })
        ));
    }
}
