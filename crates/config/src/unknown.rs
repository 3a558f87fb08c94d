//! Finding keys crated does not know, and plugin keys of the wrong form.
//!
//! The known keys are those of the serialized defaults (every field of the
//! model is always serialized), so the check follows the model. The
//! `plugins`, `proxy_plugins` and `timeouts` subtrees are free-form here;
//! the fields of each `stream_processors` entry are checked.

use std::path::Path;

use toml::{Table, Value};

use crate::model::{Config, StreamProcessor};

/// Top-level keys whose subtrees are not checked.
const FREE_FORM: [&str; 3] = ["plugins", "proxy_plugins", "timeouts"];

/// The dotted paths (e.g. `grpc.foo`) of the keys in a file's raw `table`
/// that crated does not know, in table order.
pub(crate) fn unknown_keys(table: &Table) -> Vec<String> {
    let mut out = Vec::new();
    let (Ok(known), Ok(processor)) = (
        Table::try_from(Config::default()),
        Table::try_from(StreamProcessor::default()),
    ) else {
        return out;
    };
    for (key, value) in table {
        let Some(schema) = known.get(key) else {
            out.push(render(&[key]));
            continue;
        };
        if FREE_FORM.contains(&key.as_str()) {
            continue;
        }
        match (key.as_str(), value, schema) {
            ("stream_processors", Value::Table(entries), _) => {
                for (name, entry) in entries {
                    if let Value::Table(entry) = entry {
                        walk(entry, &processor, &mut vec![key, name], &mut out);
                    }
                }
            }
            (_, Value::Table(sub), Value::Table(schema)) => {
                walk(sub, schema, &mut vec![key], &mut out);
            }
            _ => {}
        }
    }
    out
}

fn walk<'a>(table: &'a Table, schema: &Table, path: &mut Vec<&'a String>, out: &mut Vec<String>) {
    for (key, value) in table {
        path.push(key);
        match (schema.get(key), value) {
            (None, _) => out.push(render(path)),
            (Some(Value::Table(schema)), Value::Table(sub)) => walk(sub, schema, path, out),
            _ => {}
        }
        path.pop();
    }
}

/// Renders a key path the way TOML writes it: bare segments where allowed,
/// quoted ones otherwise.
fn render(path: &[&String]) -> String {
    path.iter()
        .map(|seg| {
            let bare = !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                (*seg).clone()
            } else {
                format!("{seg:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// In version 2 and 3 files, plugins are named `<type>.<id>` (at least four
/// dot-separated parts, e.g. `io.containerd.grpc.v1.cri`); containerd
/// rejects other names, crated warns that they will not match any plugin.
pub(crate) fn plugin_key_warnings(config: &Config, version: i64, file: &Path) -> Vec<String> {
    if version < 2 {
        return Vec::new();
    }
    let is_uri = |name: &str| name.split('.').count() >= 4;
    let sections = config
        .plugins
        .keys()
        .filter(|k| !is_uri(k))
        .map(|k| ("plugin section", format!("plugins.{}", render(&[k]))));
    let lists = [
        ("disabled_plugins", &config.disabled_plugins),
        ("required_plugins", &config.required_plugins),
    ]
    .into_iter()
    .flat_map(|(list, names)| {
        names
            .iter()
            .filter(|n| !is_uri(n))
            .map(move |n| (list, n.clone()))
    });
    sections
        .chain(lists)
        .map(|(what, name)| {
            format!(
                "{what} {name:?} in {} is not of the form \"<type>.<id>\" \
                 (e.g. \"io.containerd.grpc.v1.cri\") required by config version {version} \
                 and matches no plugin",
                file.display()
            )
        })
        .collect()
}
