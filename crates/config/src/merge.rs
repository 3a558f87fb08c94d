//! Merging one file's raw table over the configuration merged so far.
//!
//! The rules follow containerd's `mergeConfig`, applied to the keys a file
//! actually sets (so an import can set a value back to zero or empty):
//!
//! - a scalar or array the file sets replaces the earlier value;
//! - `disabled_plugins` and `required_plugins` are appended to, skipping
//!   entries already present (containerd appends these lists);
//! - `proxy_plugins`, `stream_processors` and `timeouts` are merged by key,
//!   each entry replaced whole;
//! - tables (`grpc`, `debug`, …, and each `[plugins."<type>.<id>"]` section)
//!   are merged key by key, recursively; arrays inside them are replaced;
//! - `version` and `imports` are never merged: the effective version is the
//!   main file's and the imports are resolved per file.

use toml::{Table, Value};

/// Top-level lists that accumulate across files.
const APPENDED: [&str; 2] = ["disabled_plugins", "required_plugins"];
/// Top-level maps whose entries are replaced whole.
const ENTRY_REPLACED: [&str; 3] = ["proxy_plugins", "stream_processors", "timeouts"];
/// Top-level keys not merged at all.
const NOT_MERGED: [&str; 2] = ["version", "imports"];

/// Merges the top-level table `src` of one file into `dst`.
pub(crate) fn merge_file(dst: &mut Table, src: Table) {
    for (key, value) in src {
        let key_str = key.as_str();
        if NOT_MERGED.contains(&key_str) {
            continue;
        }
        if APPENDED.contains(&key_str) {
            append_unique(dst, key, value);
        } else if ENTRY_REPLACED.contains(&key_str) {
            replace_entries(dst, key, value);
        } else {
            merge_value(dst, key, value);
        }
    }
}

/// Sets `dst[key]` to `value`, merging recursively when both are tables.
fn merge_value(dst: &mut Table, key: String, value: Value) {
    match value {
        Value::Table(src) => match dst.get_mut(&key) {
            Some(Value::Table(existing)) => {
                for (k, v) in src {
                    merge_value(existing, k, v);
                }
            }
            _ => {
                dst.insert(key, Value::Table(src));
            }
        },
        other => {
            dst.insert(key, other);
        }
    }
}

/// Appends the elements of the array `value` to the array `dst[key]`,
/// skipping elements already there.
fn append_unique(dst: &mut Table, key: String, value: Value) {
    match (dst.get_mut(&key), value) {
        (Some(Value::Array(existing)), Value::Array(items)) => {
            for item in items {
                if !existing.contains(&item) {
                    existing.push(item);
                }
            }
        }
        (_, value) => {
            dst.insert(key, value);
        }
    }
}

/// Merges the table `value` into the table `dst[key]`, replacing entries.
fn replace_entries(dst: &mut Table, key: String, value: Value) {
    match (dst.get_mut(&key), value) {
        (Some(Value::Table(existing)), Value::Table(entries)) => {
            for (k, v) in entries {
                existing.insert(k, v);
            }
        }
        (_, value) => {
            dst.insert(key, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::merge_file;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn merge_rules() {
        let mut dst = table(
            r#"
            version = 2
            root = "/a"
            oom_score = 5
            disabled_plugins = ["x", "y"]
            [grpc]
            address = "/a.sock"
            uid = 1
            [timeouts]
            "t.a" = "1s"
            [proxy_plugins.p]
            type = "snapshot"
            address = "/p.sock"
            [plugins."io.containerd.gc.v1.scheduler"]
            pause_threshold = 0.02
            list = [1, 2]
            [plugins."io.containerd.gc.v1.scheduler".nested]
            a = 1
            b = 2
            "#,
        );
        merge_file(
            &mut dst,
            table(
                r#"
                version = 3
                imports = ["z.toml"]
                oom_score = 0
                disabled_plugins = ["y", "z"]
                [grpc]
                uid = 2
                [timeouts]
                "t.b" = "2s"
                [proxy_plugins.p]
                type = "content"
                [plugins."io.containerd.gc.v1.scheduler"]
                list = [3]
                [plugins."io.containerd.gc.v1.scheduler".nested]
                b = 3
                "#,
            ),
        );
        let want = table(
            r#"
            version = 2
            root = "/a"
            oom_score = 0
            disabled_plugins = ["x", "y", "z"]
            [grpc]
            address = "/a.sock"
            uid = 2
            [timeouts]
            "t.a" = "1s"
            "t.b" = "2s"
            [proxy_plugins.p]
            type = "content"
            [plugins."io.containerd.gc.v1.scheduler"]
            pause_threshold = 0.02
            list = [3]
            [plugins."io.containerd.gc.v1.scheduler".nested]
            a = 1
            b = 3
            "#,
        );
        assert_eq!(dst, want);
    }
}
