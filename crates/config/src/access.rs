//! Accessors on [`Config`]: plugin sections, derived addresses, overrides and
//! rendering.

use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::error::ConfigError;
use crate::model::{Config, Overrides};

impl Config {
    /// The ttrpc socket: `ttrpc.address`, or `grpc.address` + `.ttrpc` when
    /// that is empty.
    pub fn ttrpc_address(&self) -> PathBuf {
        if self.ttrpc.address.is_empty() {
            PathBuf::from(format!("{}.ttrpc", self.grpc.address))
        } else {
            PathBuf::from(&self.ttrpc.address)
        }
    }

    /// The raw section of plugin `<type_>.<id>` (e.g. type
    /// `io.containerd.grpc.v1`, id `cri`): the section keyed by the full
    /// `"<type_>.<id>"`, or, in a version 1 config, by the bare `<id>`.
    pub fn plugin_config(&self, type_: &str, id: &str) -> Option<&toml::Value> {
        self.plugins
            .get(&format!("{type_}.{id}"))
            .or_else(|| (self.version <= 1).then(|| self.plugins.get(id)).flatten())
    }

    /// Plugin `<type_>.<id>`'s options as the plugin reads them: its
    /// section ([`Config::plugin_config`]), except for the CRI plugin of a
    /// file with containerd 2.x's `io.containerd.cri.v1.images` or
    /// `io.containerd.cri.v1.runtime` sections, which are folded into its
    /// section in the version 2 shape.
    pub fn plugin_section(&self, type_: &str, id: &str) -> Option<toml::Value> {
        if format!("{type_}.{id}") == crate::migrate::CRI
            && let Some(folded) = crate::cri_v3::fold(|k| self.plugins.get(k))
        {
            return Some(folded);
        }
        self.plugin_config(type_, id).cloned()
    }

    /// Decodes plugin `<type_>.<id>`'s section (see [`Config::plugin_config`])
    /// into its typed options; `Ok(None)` when the config has no section.
    pub fn decode_plugin_config<T: DeserializeOwned>(
        &self,
        type_: &str,
        id: &str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.plugin_config(type_, id) else {
            return Ok(None);
        };
        value
            .clone()
            .try_into()
            .map(Some)
            .map_err(|e: toml::de::Error| ConfigError::Plugin {
                key: format!("{type_}.{id}"),
                message: e.message().trim_end().to_owned(),
            })
    }

    /// Sets (replaces) the raw section stored under `key` in `[plugins]`,
    /// e.g. to fill `crated config default` with each plugin's defaults.
    pub fn set_plugin_config(&mut self, key: &str, value: toml::Value) {
        self.plugins.insert(key.to_owned(), value);
    }

    /// Whether plugin `<type_>.<id>` is listed in `disabled_plugins` (by its
    /// full `<type_>.<id>`, or in a version 1 config also by bare id).
    pub fn plugin_disabled(&self, type_: &str, id: &str) -> bool {
        self.lists_plugin(&self.disabled_plugins, type_, id)
    }

    /// Whether plugin `<type_>.<id>` is listed in `required_plugins` (by its
    /// full `<type_>.<id>`, or in a version 1 config also by bare id).
    pub fn plugin_required(&self, type_: &str, id: &str) -> bool {
        self.lists_plugin(&self.required_plugins, type_, id)
    }

    fn lists_plugin(&self, list: &[String], type_: &str, id: &str) -> bool {
        let uri = format!("{type_}.{id}");
        list.iter()
            .any(|p| *p == uri || (self.version <= 1 && p == id))
    }

    /// Applies command-line overrides; a set flag always wins over the file.
    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(root) = &overrides.root {
            self.root.clone_from(root);
        }
        if let Some(state) = &overrides.state {
            self.state.clone_from(state);
        }
        if let Some(address) = &overrides.address {
            self.grpc.address.clone_from(address);
        }
        if let Some(level) = &overrides.log_level {
            self.debug.level.clone_from(level);
        }
    }

    /// Renders the whole configuration as TOML, every field included, in a
    /// stable order (for `crated config default` and `crated config dump`).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Serialize {
            message: e.to_string(),
        })
    }

    /// Parses one config document from a string, with no file, imports or
    /// unknown-key report; an absent `version` means 1, as in a file.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        crate::load::parse_document(std::path::Path::new("<string>"), text).map(|doc| {
            let mut config = doc.config;
            config.version = doc.version;
            config
        })
    }
}
