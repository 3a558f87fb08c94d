//! The CRI plugin's options of a version 3 file, where containerd 2.x
//! splits them over three sections: `io.containerd.cri.v1.images` (the
//! image service), `io.containerd.cri.v1.runtime` (runtimes, CNI, …) and
//! `io.containerd.grpc.v1.cri` (the server). crated's CRI plugin reads one
//! section in the version 2 shape; this folds the three back into it, the
//! reverse of the key moves of `crated config migrate`.

use toml::{Table, Value};

use crate::migrate::{CRI, CRI_IMAGES, CRI_RUNTIME, IMAGE_CONTAINERD_KEYS, sub_table};

/// The CRI plugin's section in the version 2 shape made from the plugin
/// sections `section` looks up by name, when there is a version 3 image or
/// runtime section; `None` otherwise.
pub(crate) fn fold<'a>(section: impl Fn(&str) -> Option<&'a Value>) -> Option<Value> {
    let images = section(CRI_IMAGES).and_then(Value::as_table);
    let runtime = section(CRI_RUNTIME).and_then(Value::as_table);
    if images.is_none() && runtime.is_none() {
        return None;
    }
    let mut cri = section(CRI)
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    if let Some(runtime) = runtime {
        fold_runtime(&mut cri, runtime);
    }
    if let Some(images) = images {
        fold_images(&mut cri, images);
    }
    Some(Value::Table(cri))
}

/// The version 2 shape of one version 3 section `key` on its own, for
/// checking its keys against the CRI plugin's options.
pub(crate) fn fold_section(key: &str, section: &Table) -> Option<Table> {
    let mut cri = Table::new();
    match key {
        CRI_RUNTIME => fold_runtime(&mut cri, section),
        CRI_IMAGES => fold_images(&mut cri, section),
        _ => return None,
    }
    Some(cri)
}

fn fold_runtime(cri: &mut Table, runtime: &Table) {
    for (key, value) in runtime {
        match (key.as_str(), value) {
            ("containerd", Value::Table(containerd)) => {
                let into = sub_table(cri, "containerd");
                for (k, v) in containerd {
                    into.insert(k.clone(), v.clone());
                }
            }
            ("cni", Value::Table(cni)) => {
                let mut cni = cni.clone();
                // containerd 2.x reads `bin_dirs` only; the version 2 default
                // of `bin_dir` must not be added to them.
                if cni.contains_key("bin_dirs") {
                    cni.entry("bin_dir")
                        .or_insert_with(|| Value::String(String::new()));
                }
                cri.insert(key.clone(), Value::Table(cni));
            }
            _ => {
                cri.insert(key.clone(), value.clone());
            }
        }
    }
}

fn fold_images(cri: &mut Table, images: &Table) {
    for (key, value) in images {
        match key.as_str() {
            "pinned_images" => {
                if let Some(sandbox) = value.get("sandbox") {
                    cri.insert("sandbox_image".into(), sandbox.clone());
                }
            }
            "runtime_platform" => {
                let Some(platforms) = value.as_table() else {
                    continue;
                };
                for (name, platform) in platforms {
                    if let Some(snapshotter) = platform.get("snapshotter") {
                        let runtimes = sub_table(sub_table(cri, "containerd"), "runtimes");
                        sub_table(runtimes, name).insert("snapshotter".into(), snapshotter.clone());
                    }
                }
            }
            k if IMAGE_CONTAINERD_KEYS.contains(&k) => {
                sub_table(cri, "containerd").insert(key.clone(), value.clone());
            }
            _ => {
                cri.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn version_3_sections_fold_into_the_cri_plugins_section() {
        let plugins: Table = toml::from_str(
            r#"
            [${CRI}]
              stream_server_port = "10010"
            [${IMAGES}]
              snapshotter = "native"
              max_concurrent_downloads = 2
              [${IMAGES}.pinned_images]
                sandbox = "registry.k8s.io/pause:3.10"
              [${IMAGES}.registry]
                config_path = "/etc/containerd/certs.d"
              [${IMAGES}.runtime_platform.kata]
                platform = "linux/amd64"
                snapshotter = "devmapper"
            [${RUNTIME}]
              enable_cdi = true
              [${RUNTIME}.containerd]
                default_runtime_name = "crun"
                [${RUNTIME}.containerd.runtimes.crun]
                  runtime_type = "io.containerd.runc.v2"
              [${RUNTIME}.cni]
                bin_dirs = ["/usr/lib/cni"]
                conf_dir = "/etc/cni/net.d"
            "#
            .replace("${CRI}", &format!("{CRI:?}"))
            .replace("${IMAGES}", &format!("{CRI_IMAGES:?}"))
            .replace("${RUNTIME}", &format!("{CRI_RUNTIME:?}"))
            .as_str(),
        )
        .unwrap();
        let cri = fold(|k| plugins.get(k)).unwrap();
        assert_eq!(cri["stream_server_port"].as_str(), Some("10010"));
        assert_eq!(
            cri["sandbox_image"].as_str(),
            Some("registry.k8s.io/pause:3.10")
        );
        assert_eq!(cri["max_concurrent_downloads"].as_integer(), Some(2));
        assert_eq!(
            cri["registry"]["config_path"].as_str(),
            Some("/etc/containerd/certs.d")
        );
        assert_eq!(cri["enable_cdi"].as_bool(), Some(true));
        let containerd = &cri["containerd"];
        assert_eq!(containerd["snapshotter"].as_str(), Some("native"));
        assert_eq!(containerd["default_runtime_name"].as_str(), Some("crun"));
        assert_eq!(
            containerd["runtimes"]["crun"]["runtime_type"].as_str(),
            Some("io.containerd.runc.v2")
        );
        assert_eq!(
            containerd["runtimes"]["kata"]["snapshotter"].as_str(),
            Some("devmapper")
        );
        assert_eq!(cri["cni"]["conf_dir"].as_str(), Some("/etc/cni/net.d"));
        let typed: crate::plugins::CriConfig = cri.try_into().unwrap();
        assert_eq!(typed.sandbox_image, "registry.k8s.io/pause:3.10");
        assert_eq!(typed.cni_bin_dirs(), ["/usr/lib/cni"]);

        let only_server: Table =
            toml::from_str(&format!("[{CRI:?}]\nstream_server_port = \"1\"")).unwrap();
        assert!(fold(|k| only_server.get(k)).is_none());
    }
}
