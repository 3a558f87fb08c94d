//! The plugin registry: typed registrations, initialised in dependency
//! order, each one's outcome recorded for Introspection.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crated_config::plugins::{NoConfig, PluginConfig, PluginSchema, PluginSpec};
use crated_core::{Error, ErrorKind};

use crate::services::introspection::IntrospectionState;

/// A plugin instance, downcast by its consumers to the concrete type.
pub type Instance = Arc<dyn Any + Send + Sync>;

/// Why a plugin did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitError {
    /// The plugin does not apply on this host or configuration.
    Skip(String),
    /// The plugin tried and failed.
    Failed(Error),
}

impl From<Error> for InitError {
    fn from(e: Error) -> Self {
        InitError::Failed(e)
    }
}

/// A plugin: its type, id, the types it needs, its default config and its
/// init function.
pub struct Registration {
    /// The plugin type, e.g. `io.containerd.content.v1`.
    pub plugin_type: &'static str,
    /// The plugin id, unique within its type.
    pub id: &'static str,
    /// Types that must initialise first; `*` means every other type.
    pub requires: &'static [&'static str],
    /// The plugin's typed `[plugins."<type>.<id>"]` options.
    pub config: PluginSchema,
    /// Builds the instance.
    pub init: fn(&mut InitContext<'_>) -> Result<Instance, InitError>,
}

impl Registration {
    /// A registration for a plugin without options.
    pub fn new(
        plugin_type: &'static str,
        id: &'static str,
        requires: &'static [&'static str],
        init: fn(&mut InitContext<'_>) -> Result<Instance, InitError>,
    ) -> Self {
        Registration {
            plugin_type,
            id,
            requires,
            config: PluginSchema::of::<NoConfig>(),
            init,
        }
    }

    /// Gives the plugin its typed options `T` (checked at startup, rendered
    /// by `crated config default`).
    pub fn with_config<T: PluginConfig>(mut self) -> Self {
        self.config = PluginSchema::of::<T>();
        self
    }

    /// The plugin as the config check sees it.
    pub fn spec(&self) -> PluginSpec<'static> {
        PluginSpec {
            plugin_type: self.plugin_type,
            id: self.id,
            schema: self.config,
        }
    }

    /// `<type>.<id>`, the key of the plugin's config section.
    pub fn uri(&self) -> String {
        format!("{}.{}", self.plugin_type, self.id)
    }
}

/// Facts about the daemon that plugins may need.
#[derive(Debug, Clone, Default)]
pub struct DaemonInfo {
    /// The gRPC socket.
    pub grpc_address: PathBuf,
    /// The ttrpc socket.
    pub ttrpc_address: PathBuf,
    /// Whether debug logging is on.
    pub debug: bool,
    /// The `[timeouts]` of shim operations.
    pub shim_timeouts: crated_runtime::ShimTimeouts,
}

/// What a plugin's init gets: its directories, its config and the plugins
/// initialised before it.
pub struct InitContext<'a> {
    /// The plugin's own directory under the daemon root (not yet created).
    pub root: PathBuf,
    /// The plugin's own directory under the daemon state (not yet created).
    pub state: PathBuf,
    /// The daemon's root.
    pub daemon_root: PathBuf,
    /// The daemon's addresses and settings plugins may need.
    pub daemon: Arc<DaemonInfo>,
    /// The plugin's config section, if the config has one.
    pub config: Option<toml::Value>,
    /// The plugins loaded so far.
    pub plugins: &'a PluginSet,
    /// Facts the plugin exports for Introspection.
    pub exports: BTreeMap<String, String>,
    /// Platforms the plugin supports, as `os/arch[/variant]`.
    pub platforms: Vec<String>,
    /// Capabilities the plugin advertises.
    pub capabilities: Vec<String>,
    /// What Introspection reports, shared with the introspection plugin.
    pub introspection: Arc<IntrospectionState>,
}

impl InitContext<'_> {
    /// The plugin's config parsed into `T`, or `T::defaults()` when the
    /// config has no section for it.
    pub fn config<T: PluginConfig>(&self) -> Result<T, InitError> {
        match &self.config {
            None => Ok(T::defaults()),
            Some(value) => value.clone().try_into().map_err(|e| {
                InitError::Failed(Error::with_source(
                    ErrorKind::InvalidArgument,
                    "invalid plugin config",
                    e,
                ))
            }),
        }
    }
}

/// The outcome of one plugin's init.
#[derive(Clone)]
pub enum Outcome {
    /// Loaded.
    Loaded(Instance),
    /// Skipped, with the reason.
    Skipped(String),
    /// Failed, with the error.
    Failed(Error),
}

/// One plugin as Introspection reports it.
#[derive(Clone)]
pub struct PluginEntry {
    /// The plugin type.
    pub plugin_type: String,
    /// The plugin id.
    pub id: String,
    /// The types it requires.
    pub requires: Vec<String>,
    /// What it exports.
    pub exports: BTreeMap<String, String>,
    /// The platforms it supports.
    pub platforms: Vec<String>,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// How its init went.
    pub outcome: Outcome,
}

/// Every plugin that was initialised, in init order.
#[derive(Default, Clone)]
pub struct PluginSet {
    entries: Vec<PluginEntry>,
}

impl PluginSet {
    /// Every entry, in init order.
    pub fn entries(&self) -> &[PluginEntry] {
        &self.entries
    }

    /// The loaded instance `type.id`, downcast to `T`.
    pub fn get<T: Any + Send + Sync>(&self, plugin_type: &str, id: &str) -> Result<Arc<T>, Error> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.plugin_type == plugin_type && e.id == id)
            .ok_or_else(|| Error::not_found(format!("plugin {plugin_type}.{id}")))?;
        match &entry.outcome {
            Outcome::Loaded(instance) => instance.clone().downcast::<T>().map_err(|_| {
                Error::internal(format!(
                    "plugin {plugin_type}.{id} has an unexpected instance type"
                ))
            }),
            Outcome::Skipped(reason) => Err(Error::failed_precondition(format!(
                "plugin {plugin_type}.{id} was skipped: {reason}"
            ))),
            Outcome::Failed(e) => Err(Error::with_source(
                ErrorKind::FailedPrecondition,
                format_args!("plugin {plugin_type}.{id} failed to load"),
                e.clone(),
            )),
        }
    }

    /// The only (or first) loaded instance of `plugin_type`, downcast to `T`.
    pub fn first<T: Any + Send + Sync>(&self, plugin_type: &str) -> Result<Arc<T>, Error> {
        self.entries
            .iter()
            .filter(|e| e.plugin_type == plugin_type)
            .find_map(|e| match &e.outcome {
                Outcome::Loaded(i) => i.clone().downcast::<T>().ok(),
                _ => None,
            })
            .ok_or_else(|| Error::not_found(format!("no plugin of type {plugin_type} loaded")))
    }

    /// Every loaded instance of `plugin_type` that is a `T`, with its id.
    pub fn all<T: Any + Send + Sync>(&self, plugin_type: &str) -> Vec<(String, Arc<T>)> {
        self.entries
            .iter()
            .filter(|e| e.plugin_type == plugin_type)
            .filter_map(|e| match &e.outcome {
                Outcome::Loaded(i) => i.clone().downcast::<T>().ok().map(|t| (e.id.clone(), t)),
                _ => None,
            })
            .collect()
    }
}

/// Orders registrations so that every plugin comes after the types it
/// requires. A cycle is an error naming the plugins involved.
pub fn order(registrations: &[Registration]) -> Result<Vec<&Registration>, Error> {
    let mut ordered: Vec<&Registration> = Vec::new();
    let mut placed: HashSet<String> = HashSet::new();
    let mut remaining: Vec<&Registration> = registrations.iter().collect();
    let types: HashSet<&str> = registrations.iter().map(|r| r.plugin_type).collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut next = Vec::new();
        for r in remaining {
            let ready = r.requires.iter().all(|req| {
                if *req == "*" {
                    registrations
                        .iter()
                        .filter(|o| o.plugin_type != r.plugin_type && !o.requires.contains(&"*"))
                        .all(|o| placed.contains(&o.uri()))
                } else {
                    !types.contains(req)
                        || registrations
                            .iter()
                            .filter(|o| o.plugin_type == *req)
                            .all(|o| placed.contains(&o.uri()))
                }
            });
            if ready {
                placed.insert(r.uri());
                ordered.push(r);
            } else {
                next.push(r);
            }
        }
        if next.len() == before {
            let names: Vec<String> = next.iter().map(|r| r.uri()).collect();
            return Err(Error::failed_precondition(format!(
                "plugin dependency cycle among: {}",
                names.join(", ")
            )));
        }
        remaining = next;
    }
    Ok(ordered)
}

/// Settings for [`init_all`].
pub struct InitSettings<'a> {
    /// The daemon root.
    pub root: PathBuf,
    /// The daemon state directory.
    pub state: PathBuf,
    /// `type.id` (or bare id) of plugins not to load.
    pub disabled: &'a [String],
    /// Plugin config sections by `type.id`.
    pub config: &'a dyn Fn(&str, &str) -> Option<toml::Value>,
    /// Shared with the introspection plugin.
    pub introspection: Arc<IntrospectionState>,
    /// The daemon's addresses.
    pub daemon: Arc<DaemonInfo>,
}

fn is_listed(list: &[String], r: &Registration) -> bool {
    list.iter().any(|d| *d == r.uri() || d == r.id)
}

/// Initialises every registration that is not disabled, in dependency
/// order. A plugin whose required type did not load is skipped with a
/// message that says so.
pub fn init_all(
    registrations: &[Registration],
    settings: &InitSettings<'_>,
) -> Result<PluginSet, Error> {
    let mut set = PluginSet::default();
    let mut loaded_types: HashMap<&str, bool> = HashMap::new();
    for r in order(registrations)? {
        if is_listed(settings.disabled, r) {
            tracing::info!(plugin = %r.uri(), "plugin disabled by config");
            continue;
        }
        let missing: Vec<&str> = r
            .requires
            .iter()
            .filter(|t| **t != "*" && !loaded_types.get(**t).copied().unwrap_or(false))
            .copied()
            .collect();
        let mut ctx = InitContext {
            root: settings.root.join(r.uri()),
            state: settings.state.join(r.uri()),
            daemon_root: settings.root.clone(),
            daemon: settings.daemon.clone(),
            config: (settings.config)(r.plugin_type, r.id),
            plugins: &set,
            exports: BTreeMap::new(),
            platforms: Vec::new(),
            capabilities: Vec::new(),
            introspection: settings.introspection.clone(),
        };
        let outcome = if !missing.is_empty() {
            Outcome::Skipped(format!(
                "no plugin of required type {} loaded: skip plugin",
                missing.join(", ")
            ))
        } else {
            match (r.init)(&mut ctx) {
                Ok(instance) => Outcome::Loaded(instance),
                Err(InitError::Skip(reason)) => Outcome::Skipped(reason),
                Err(InitError::Failed(e)) => Outcome::Failed(e),
            }
        };
        match &outcome {
            Outcome::Loaded(_) => tracing::info!(plugin = %r.uri(), "loading plugin"),
            Outcome::Skipped(reason) => {
                tracing::info!(plugin = %r.uri(), %reason, "skip loading plugin")
            }
            Outcome::Failed(e) => {
                tracing::warn!(plugin = %r.uri(), error = %e, "failed to load plugin")
            }
        }
        if matches!(outcome, Outcome::Loaded(_)) {
            loaded_types.insert(r.plugin_type, true);
        } else {
            loaded_types.entry(r.plugin_type).or_insert(false);
        }
        let entry = PluginEntry {
            plugin_type: r.plugin_type.to_string(),
            id: r.id.to_string(),
            requires: r.requires.iter().map(|s| s.to_string()).collect(),
            exports: std::mem::take(&mut ctx.exports),
            platforms: std::mem::take(&mut ctx.platforms),
            capabilities: std::mem::take(&mut ctx.capabilities),
            outcome,
        };
        set.entries.push(entry);
    }
    Ok(set)
}

/// Checks that a plugin of each of `types` loaded: the daemon cannot serve
/// without them (its content store and metadata), so it must not start
/// and look healthy. The error names the plugin and why it did not load.
pub fn check_essential(set: &PluginSet, types: &[(&str, &str)]) -> Result<(), Error> {
    for (plugin_type, what) in types {
        let entries: Vec<&PluginEntry> = set
            .entries()
            .iter()
            .filter(|e| e.plugin_type == *plugin_type)
            .collect();
        if entries
            .iter()
            .any(|e| matches!(e.outcome, Outcome::Loaded(_)))
        {
            continue;
        }
        let why: Vec<String> = entries
            .iter()
            .map(|e| match &e.outcome {
                Outcome::Failed(err) => format!("plugin {}.{} failed: {err}", e.plugin_type, e.id),
                Outcome::Skipped(reason) => {
                    format!("plugin {}.{} was skipped: {reason}", e.plugin_type, e.id)
                }
                Outcome::Loaded(_) => String::new(),
            })
            .collect();
        let why = if why.is_empty() {
            format!("no {plugin_type} plugin is enabled (see disabled_plugins)")
        } else {
            why.join("; ")
        };
        return Err(Error::failed_precondition(format!(
            "crated cannot serve without its {what}: {why}"
        )));
    }
    Ok(())
}

/// Checks that every plugin in `required` loaded.
pub fn check_required(set: &PluginSet, required: &[String]) -> Result<(), Error> {
    for uri in required {
        let entry = set
            .entries()
            .iter()
            .find(|e| format!("{}.{}", e.plugin_type, e.id) == *uri);
        match entry.map(|e| &e.outcome) {
            Some(Outcome::Loaded(_)) => {}
            Some(Outcome::Skipped(reason)) => {
                return Err(Error::failed_precondition(format!(
                    "required plugin {uri} was skipped: {reason}"
                )));
            }
            Some(Outcome::Failed(e)) => {
                return Err(Error::with_source(
                    ErrorKind::FailedPrecondition,
                    format_args!("required plugin {uri} failed"),
                    e.clone(),
                ));
            }
            None => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("required plugin {uri} is not registered or was disabled"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
        Ok(Arc::new(1u32))
    }
    fn skip(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
        Err(InitError::Skip("not on this host: skip plugin".into()))
    }
    fn fail(_: &mut InitContext<'_>) -> Result<Instance, InitError> {
        Err(InitError::Failed(Error::internal("boom")))
    }
    fn needs_a(ctx: &mut InitContext<'_>) -> Result<Instance, InitError> {
        let a: Arc<u32> = ctx.plugins.first("t.a")?;
        Ok(Arc::new(*a + 1))
    }

    fn reg(
        t: &'static str,
        id: &'static str,
        requires: &'static [&'static str],
        init: fn(&mut InitContext<'_>) -> Result<Instance, InitError>,
    ) -> Registration {
        Registration::new(t, id, requires, init)
    }

    fn settings<'a>(
        disabled: &'a [String],
        config: &'a dyn Fn(&str, &str) -> Option<toml::Value>,
    ) -> InitSettings<'a> {
        InitSettings {
            root: "/nonexistent/root".into(),
            state: "/nonexistent/state".into(),
            disabled,
            config,
            introspection: Default::default(),
            daemon: Default::default(),
        }
    }

    #[test]
    fn dependencies_come_first() {
        let regs = vec![reg("t.b", "b", &["t.a"], needs_a), reg("t.a", "a", &[], ok)];
        let order: Vec<String> = order(&regs).unwrap().iter().map(|r| r.uri()).collect();
        assert_eq!(order, vec!["t.a.a", "t.b.b"]);
        let none = |_: &str, _: &str| None;
        let set = init_all(&regs, &settings(&[], &none)).unwrap();
        assert_eq!(*set.get::<u32>("t.b", "b").unwrap(), 2);
    }

    #[test]
    fn cycles_are_errors() {
        let regs = vec![reg("t.a", "a", &["t.b"], ok), reg("t.b", "b", &["t.a"], ok)];
        let err = order(&regs).err().unwrap();
        assert!(err.message().contains("cycle"), "{err}");
    }

    #[test]
    fn skip_and_failure_are_recorded_and_dependents_skip() {
        let regs = vec![
            reg("t.a", "a", &[], fail),
            reg("t.s", "s", &[], skip),
            reg("t.b", "b", &["t.a"], needs_a),
            reg("t.c", "c", &[], ok),
        ];
        let none = |_: &str, _: &str| None;
        let set = init_all(&regs, &settings(&[], &none)).unwrap();
        let outcome = |id: &str| {
            set.entries()
                .iter()
                .find(|e| e.id == id)
                .unwrap()
                .outcome
                .clone()
        };
        assert!(matches!(outcome("a"), Outcome::Failed(_)));
        assert!(matches!(outcome("s"), Outcome::Skipped(_)));
        assert!(matches!(outcome("b"), Outcome::Skipped(m) if m.contains("t.a")));
        assert!(matches!(outcome("c"), Outcome::Loaded(_)));
        assert!(check_required(&set, &["t.c.c".to_string()]).is_ok());
        assert!(check_required(&set, &["t.a.a".to_string()]).is_err());
        assert!(check_required(&set, &["t.x.x".to_string()]).is_err());
    }

    #[test]
    fn essential_types_must_load() {
        let none = |_: &str, _: &str| None;
        let regs = vec![reg("t.a", "a", &[], fail), reg("t.c", "c", &[], ok)];
        let set = init_all(&regs, &settings(&[], &none)).unwrap();
        assert!(check_essential(&set, &[("t.c", "store")]).is_ok());
        let err = check_essential(&set, &[("t.a", "metadata")]).err().unwrap();
        assert!(err.message().contains("metadata"), "{err}");
        assert!(err.message().contains("t.a.a failed: boom"), "{err}");
        let disabled = vec!["t.a.a".to_string()];
        let set = init_all(&regs, &settings(&disabled, &none)).unwrap();
        let err = check_essential(&set, &[("t.a", "metadata")]).err().unwrap();
        assert!(err.message().contains("disabled_plugins"), "{err}");
    }

    #[test]
    fn disabled_plugins_are_not_loaded() {
        let regs = vec![reg("t.a", "a", &[], ok), reg("t.c", "c", &[], ok)];
        let none = |_: &str, _: &str| None;
        let disabled = vec!["t.a.a".to_string()];
        let set = init_all(&regs, &settings(&disabled, &none)).unwrap();
        assert_eq!(set.entries().len(), 1);
        assert_eq!(set.entries()[0].id, "c");
    }
}
