//! Running a network list's plugin chain (libcni's AddNetworkList,
//! CheckNetworkList and DelNetworkList).

use serde_json::{Map, Value};

use super::RuntimeConfig;
use super::config::{NetworkList, PluginConf};
use super::exec::{self, Command, Invocation};
use super::result::CniResult;
use crate::error::{Error, Result};

/// Versions at or after which DEL gets the cached result and CHECK exists.
fn at_least_0_4(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    major >= 1 || minor >= 4
}

/// The stdin document for one plugin: its own config with the list's name
/// and version, the previous result, and the runtime arguments of the
/// capabilities it declares.
fn plugin_config(
    list: &NetworkList,
    plugin: &PluginConf,
    prev_result: Option<&Value>,
    runtime: &RuntimeConfig,
) -> Result<Vec<u8>> {
    let mut conf: Map<String, Value> = plugin.raw.clone();
    conf.insert("name".into(), Value::String(list.name.clone()));
    conf.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
    if let Some(prev) = prev_result {
        conf.insert("prevResult".into(), prev.clone());
    }
    let runtime_args: Map<String, Value> = runtime
        .capability_args()
        .into_iter()
        .filter(|(name, _)| plugin.has_capability(name))
        .collect();
    if !runtime_args.is_empty() {
        conf.insert("runtimeConfig".into(), Value::Object(runtime_args));
    }
    serde_json::to_vec(&Value::Object(conf))
        .map_err(|e| Error::InvalidArgument(format!("encoding CNI config for {}: {e}", list.name)))
}

/// ADD: every plugin in order, each given the previous one's result.
/// Returns the last result, raw (for the cache) and parsed.
pub async fn add(
    list: &NetworkList,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig,
) -> Result<(Value, CniResult)> {
    let mut prev: Option<Value> = None;
    let mut last_plugin = "";
    for plugin in &list.plugins {
        let stdin = plugin_config(list, plugin, prev.as_ref(), runtime)?;
        let out = exec::run(&plugin.plugin_type, Command::Add, inv, &stdin).await?;
        let value: Value = serde_json::from_slice(&out).map_err(|e| Error::BadResult {
            plugin: plugin.plugin_type.clone(),
            reason: format!("ADD printed no JSON result: {e}"),
        })?;
        prev = Some(value);
        last_plugin = &plugin.plugin_type;
    }
    let raw = prev
        .ok_or_else(|| Error::InvalidArgument(format!("network {} has no plugins", list.name)))?;
    let parsed = CniResult::parse(last_plugin, raw.to_string().as_bytes())?;
    Ok((raw, parsed))
}

/// CHECK: every plugin in order with the cached result (CNI 0.4.0 and
/// later, unless the list disables it).
pub async fn check(
    list: &NetworkList,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig,
    cached: &Value,
) -> Result<()> {
    if list.disable_check || !at_least_0_4(&list.cni_version) {
        return Ok(());
    }
    for plugin in &list.plugins {
        let stdin = plugin_config(list, plugin, Some(cached), runtime)?;
        exec::run(&plugin.plugin_type, Command::Check, inv, &stdin).await?;
    }
    Ok(())
}

/// DEL: every plugin in reverse order, with the cached result where the
/// version passes it. A failing plugin does not stop the others from
/// releasing what they hold (an address, a link); the first error is
/// returned after all have run, so the caller retries.
pub async fn del(
    list: &NetworkList,
    inv: &Invocation<'_>,
    runtime: &RuntimeConfig,
    cached: Option<&Value>,
) -> Result<()> {
    let prev = cached.filter(|_| at_least_0_4(&list.cni_version));
    let mut first_error = None;
    for plugin in list.plugins.iter().rev() {
        let outcome = match plugin_config(list, plugin, prev, runtime) {
            Ok(stdin) => exec::run(&plugin.plugin_type, Command::Del, inv, &stdin)
                .await
                .map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(network = %list.name, plugin = %plugin.plugin_type, error = %e, "CNI DEL failed");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cni::PortMapping;

    #[test]
    fn versions_that_pass_prev_result_on_del() {
        for v in ["0.4.0", "1.0.0", "1.1.0", "0.10.0"] {
            assert!(at_least_0_4(v), "{v}");
        }
        for v in ["0.3.1", "0.3.0", "", "0.2.0"] {
            assert!(!at_least_0_4(v), "{v}");
        }
    }

    #[test]
    fn only_declared_capabilities_reach_a_plugin() {
        let list = NetworkList::from_list_bytes(
            Path::new("t.conflist"),
            br#"{"cniVersion":"1.0.0","name":"net","plugins":[
                {"type":"bridge","bridge":"cni0"},
                {"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        let runtime = RuntimeConfig {
            port_mappings: vec![PortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: String::new(),
            }],
            ..RuntimeConfig::default()
        };
        let prev = serde_json::json!({"cniVersion":"1.0.0","ips":[]});
        let bridge: Value = serde_json::from_slice(
            &plugin_config(&list, &list.plugins[0], None, &runtime).unwrap(),
        )
        .unwrap();
        assert_eq!(bridge["name"], "net");
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert_eq!(bridge["bridge"], "cni0");
        assert!(bridge.get("runtimeConfig").is_none());
        assert!(bridge.get("prevResult").is_none());

        let portmap: Value = serde_json::from_slice(
            &plugin_config(&list, &list.plugins[1], Some(&prev), &runtime).unwrap(),
        )
        .unwrap();
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0],
            serde_json::json!({"hostPort":8080,"containerPort":80,"protocol":"tcp"})
        );
    }
}
