//! Plugin config sections: each plugin's typed options
//! (`options`), the [`PluginConfig`] trait that gives them defaults, and
//! [`PluginSchema`], which checks a file's `[plugins."<type>.<id>"]`
//! sections against them (unknown keys are warnings, wrong types errors
//! naming the file, line and column).

mod check;
mod cri;
mod options;

pub use check::PluginSpec;
pub use cri::{
    CniSection, ContainerdSection, CriConfig, DEFAULT_RUNTIME_NAME, DEFAULT_RUNTIME_TYPE,
    DEFAULT_SANDBOX_IMAGE, RegistrySection, RuntimeHandler,
};
pub use options::{DifferConfig, GcConfig, MonitorConfig, NoConfig, OverlayConfig, RuntimeConfig};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A plugin's typed config section.
pub trait PluginConfig: Serialize + DeserializeOwned + Default {
    /// The options when the config has no section for the plugin, which
    /// is also what `crated config default` writes. Keys absent from a
    /// section that exists take `Default::default()`'s values.
    fn defaults() -> Self {
        Self::default()
    }

    /// One sentence for each option that is set but that crated does not
    /// act on; the config check reports them as warnings.
    fn inert_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What crated knows about one plugin's section, independent of its type:
/// how to render its defaults and how to check a file's section.
#[derive(Clone, Copy)]
pub struct PluginSchema {
    defaults: fn() -> Option<toml::Value>,
    known: fn() -> toml::Table,
    decode: fn(&str, &str) -> Result<(), toml::de::Error>,
    inert: fn(toml::Value) -> Vec<String>,
}

impl std::fmt::Debug for PluginSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSchema").finish_non_exhaustive()
    }
}

impl PluginSchema {
    /// The schema of plugin options `T`.
    pub fn of<T: PluginConfig>() -> Self {
        PluginSchema {
            defaults: || toml::Value::try_from(T::defaults()).ok(),
            known: || toml::Table::try_from(T::default()).unwrap_or_default(),
            decode: check::decode_section::<T>,
            inert: |value| {
                value
                    .try_into::<T>()
                    .map(|t| t.inert_warnings())
                    .unwrap_or_default()
            },
        }
    }

    /// The section `crated config default` writes, or `None` when the
    /// plugin has no options.
    pub fn default_section(&self) -> Option<toml::Value> {
        (self.defaults)().filter(|v| v.as_table().is_none_or(|t| !t.is_empty()))
    }
}
