//! Pod networking with Debian's CNI plugins (`containernetworking-plugins`
//! in /usr/lib/cni): a pinned namespace, the bridge plugin with host-local
//! IPAM, teardown that repeats safely and works after a "restart" with the
//! configuration gone. Needs root (namespaces, links, mounts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crated_cri::cni::{Cni, CniOptions, PodNetworkRequest};
use crated_cri::netns::NetNs;

const CNI_BIN: &str = "/usr/lib/cni";

/// Removes the test's bridge and namespace however the test ends.
struct Cleanup {
    bridge: String,
    netns: Option<NetNs>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(ns) = self.netns.take() {
            let _ = ns.remove();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

struct Setup {
    dir: tempfile::TempDir,
    subnet_prefix: String,
    cleanup: Cleanup,
}

impl Setup {
    fn new(tag: &str, extra_plugin: &str) -> Setup {
        assert!(
            Path::new(CNI_BIN).join("bridge").is_file(),
            "CNI plugins missing in {CNI_BIN}: run scripts/install-deps.sh (containernetworking-plugins)"
        );
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let bridge = format!("crt{tag}{}", pid % 100_000);
        let base = match tag {
            "a" => 0,
            "b" => 60,
            _ => 120,
        };
        let third = base + pid % 50;
        let subnet_prefix = format!("10.213.{third}");
        let conf_dir = dir.path().join("net.d");
        std::fs::create_dir_all(&conf_dir).unwrap();
        let conflist = format!(
            r#"{{"cniVersion":"1.0.0","name":"crated-test","plugins":[
              {{"type":"bridge","bridge":"{bridge}","isGateway":true,"ipMasq":false,
                "ipam":{{"type":"host-local","dataDir":"{ipam}",
                         "ranges":[[{{"subnet":"{subnet_prefix}.0/24"}}]],
                         "routes":[{{"dst":"0.0.0.0/0"}}]}}}}{extra_plugin}]}}"#,
            ipam = dir.path().join("ipam").display(),
        );
        std::fs::write(conf_dir.join("10-test.conflist"), conflist).unwrap();
        Setup {
            dir,
            subnet_prefix,
            cleanup: Cleanup {
                bridge,
                netns: None,
            },
        }
    }

    fn options(&self) -> CniOptions {
        CniOptions {
            bin_dirs: vec![PathBuf::from(CNI_BIN)],
            conf_dir: self.dir.path().join("net.d"),
            max_conf_num: 1,
            cache_dir: self.dir.path().join("cache"),
            plugin_timeout: Duration::from_secs(30),
        }
    }

    fn netns(&mut self, name: &str) -> NetNs {
        let ns = NetNs::create(&self.dir.path().join("netns"), name).unwrap();
        self.cleanup.netns = Some(ns.clone());
        ns
    }

    /// Files host-local keeps for allocated addresses.
    fn allocated(&self) -> Vec<String> {
        let dir = self.dir.path().join("ipam").join("crated-test");
        std::fs::read_dir(dir)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&self.subnet_prefix))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn in_netns(ns: &NetNs, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
#[ignore = "requires root"]
async fn a_pod_gets_an_address_on_the_bridge_and_gives_it_back() {
    let mut setup = Setup::new("a", "");
    let ns = setup.netns("pod-a");
    assert!(ns.exists());
    let cni = Cni::new(setup.options());
    cni.ready().unwrap();
    let req = PodNetworkRequest::for_pod("sandbox-a", ns.path(), "default", "web", "uid-1");

    let pod = cni.setup(&req).await.unwrap();
    let ips = pod.pod_ips();
    assert_eq!(ips.len(), 1, "{pod:?}");
    assert!(ips[0].starts_with(&setup.subnet_prefix), "{ips:?}");
    assert_eq!(setup.allocated(), ips);

    let addr = in_netns(&ns, &["ip", "-o", "addr", "show", "eth0"]);
    assert!(String::from_utf8_lossy(&addr.stdout).contains(&ips[0]));
    let lo = in_netns(&ns, &["ip", "-o", "link", "show", "lo"]);
    assert!(String::from_utf8_lossy(&lo.stdout).contains("UP"), "{lo:?}");
    let gateway = format!("{}.1", setup.subnet_prefix);
    let ping = in_netns(&ns, &["busybox", "ping", "-c", "1", "-W", "5", &gateway]);
    assert!(
        ping.status.success(),
        "pod cannot reach its gateway: {ping:?}"
    );
    cni.check(&req).await.unwrap();

    cni.teardown(&req).await.unwrap();
    assert!(setup.allocated().is_empty(), "address not released");
    let gone = in_netns(&ns, &["ip", "link", "show", "eth0"]);
    assert!(!gone.status.success(), "eth0 still in the pod");
    cni.teardown(&req).await.unwrap();

    ns.remove().unwrap();
    assert!(!ns.exists());
    assert!(!ns.path().exists());
}

#[tokio::test]
#[ignore = "requires root"]
async fn teardown_after_a_restart_uses_the_cached_config() {
    let mut setup = Setup::new("b", "");
    let ns = setup.netns("pod-b");
    let req = PodNetworkRequest::for_pod("sandbox-b", ns.path(), "default", "db", "uid-2");
    {
        let cni = Cni::new(setup.options());
        cni.setup(&req).await.unwrap();
    }
    assert_eq!(setup.allocated().len(), 1);
    std::fs::remove_dir_all(setup.dir.path().join("net.d")).unwrap();

    let restarted = Cni::new(setup.options());
    assert!(restarted.ready().is_err());
    restarted.teardown(&req).await.unwrap();
    assert!(setup.allocated().is_empty(), "address not released");
}

#[tokio::test]
#[ignore = "requires root"]
async fn a_failed_add_detaches_what_it_attached() {
    let mut setup = Setup::new("c", r#",{"type":"no-such-plugin"}"#);
    let ns = setup.netns("pod-c");
    let cni = Cni::new(setup.options());
    let req = PodNetworkRequest::for_pod("sandbox-c", ns.path(), "default", "x", "uid-3");
    let err = cni.setup(&req).await.unwrap_err();
    assert!(err.to_string().contains("no-such-plugin"), "{err}");
    assert!(
        setup.allocated().is_empty(),
        "address kept after a failed ADD"
    );
    let gone = in_netns(&ns, &["ip", "link", "show", "eth0"]);
    assert!(!gone.status.success(), "eth0 left in the pod");
}
