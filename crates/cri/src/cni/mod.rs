//! CNI networking for pod sandboxes, with containerd's CRI conventions: a
//! loopback network (`lo`) first, then up to `max_conf_num` networks from
//! `conf_dir` on `eth0`, `eth1`, …; CNI_ARGS from the pod; ADD results
//! cached per sandbox so that teardown works after a restart or a config
//! change, and repeats safely.

mod cache;
mod chain;
pub mod config;
pub mod exec;
pub mod result;

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
pub use config::NetworkList;
use exec::Invocation;
pub use result::{CniResult, IpConfig};

/// Where networks and plugins are found, and where results are cached.
#[derive(Debug, Clone)]
pub struct CniOptions {
    /// Directories holding plugin binaries (`bin_dir` / `bin_dirs`).
    pub bin_dirs: Vec<PathBuf>,
    /// Directory of network configurations (`conf_dir`).
    pub conf_dir: PathBuf,
    /// How many networks of `conf_dir` a pod joins (`max_conf_num`).
    pub max_conf_num: usize,
    /// Directory of cached ADD results (under crated's state).
    pub cache_dir: PathBuf,
    /// How long one plugin invocation may run.
    pub plugin_timeout: Duration,
}

/// A host-to-pod port mapping (the `portMappings` capability).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortMapping {
    /// Port on the host.
    #[serde(rename = "hostPort")]
    pub host_port: u16,
    /// Port in the pod.
    #[serde(rename = "containerPort")]
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Host address to bind; empty for all.
    #[serde(rename = "hostIP", skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// Traffic shaping (the `bandwidth` capability), in bits per second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bandwidth {
    /// Ingress rate.
    #[serde(rename = "ingressRate")]
    pub ingress_rate: u64,
    /// Ingress burst.
    #[serde(rename = "ingressBurst")]
    pub ingress_burst: u64,
    /// Egress rate.
    #[serde(rename = "egressRate")]
    pub egress_rate: u64,
    /// Egress burst.
    #[serde(rename = "egressBurst")]
    pub egress_burst: u64,
}

/// The runtime arguments offered to plugins that declare the capability.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConfig {
    /// `portMappings`.
    pub port_mappings: Vec<PortMapping>,
    /// `bandwidth`.
    pub bandwidth: Option<Bandwidth>,
    /// `dns`: name servers, searches and options from the pod's DNSConfig.
    pub dns: Option<result::Dns>,
    /// `cgroupPath`: the pod's cgroup parent.
    pub cgroup_path: Option<String>,
}

impl RuntimeConfig {
    /// The capability arguments by capability name.
    fn capability_args(&self) -> Vec<(String, Value)> {
        let mut args = Vec::new();
        if !self.port_mappings.is_empty() {
            args.push(("portMappings".into(), json(&self.port_mappings)));
        }
        if let Some(b) = &self.bandwidth {
            args.push(("bandwidth".into(), json(b)));
        }
        if let Some(dns) = &self.dns {
            let mut map = Map::new();
            map.insert("servers".into(), json(&dns.nameservers));
            map.insert("searches".into(), json(&dns.search));
            map.insert("options".into(), json(&dns.options));
            args.push(("dns".into(), Value::Object(map)));
        }
        if let Some(path) = &self.cgroup_path {
            args.push(("cgroupPath".into(), Value::String(path.clone())));
        }
        args
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// One pod's attachment request.
#[derive(Debug, Clone)]
pub struct PodNetworkRequest {
    /// The sandbox id (`CNI_CONTAINERID`).
    pub sandbox_id: String,
    /// The pod's pinned network namespace.
    pub netns: PathBuf,
    /// CNI_ARGS pairs, e.g. `K8S_POD_NAMESPACE`, `K8S_POD_NAME`,
    /// `K8S_POD_INFRA_CONTAINER_ID`, `K8S_POD_UID`.
    pub args: Vec<(String, String)>,
    /// Capability arguments.
    pub runtime: RuntimeConfig,
}

impl PodNetworkRequest {
    /// A request with containerd's CNI_ARGS for a Kubernetes pod.
    pub fn for_pod(
        sandbox_id: &str,
        netns: &Path,
        pod_namespace: &str,
        pod_name: &str,
        pod_uid: &str,
    ) -> Self {
        let args = [
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", pod_namespace),
            ("K8S_POD_NAME", pod_name),
            ("K8S_POD_INFRA_CONTAINER_ID", sandbox_id),
            ("K8S_POD_UID", pod_uid),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        PodNetworkRequest {
            sandbox_id: sandbox_id.to_string(),
            netns: netns.to_path_buf(),
            args,
            runtime: RuntimeConfig::default(),
        }
    }
}

/// What a pod got: each interface's name with its network's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodNetwork {
    /// `(ifname, network name, result)` in setup order, loopback first.
    pub attachments: Vec<(String, String, CniResult)>,
}

impl PodNetwork {
    /// The pod's IPs the way containerd reports them: the addresses of the
    /// first network's interface (`eth0`), IPv4 first.
    pub fn pod_ips(&self) -> Vec<String> {
        let Some((_, _, result)) = self
            .attachments
            .iter()
            .find(|(ifname, _, _)| ifname == "eth0")
        else {
            return Vec::new();
        };
        let mut ips: Vec<&IpConfig> = result.sandbox_ips().collect();
        ips.sort_by_key(|ip| !ip.is_ipv4());
        ips.into_iter().map(|ip| ip.ip().to_string()).collect()
    }
}

/// The CNI manager of the CRI plugin.
#[derive(Debug)]
pub struct Cni {
    options: CniOptions,
    networks: RwLock<std::result::Result<Vec<NetworkList>, String>>,
}

impl Cni {
    /// A manager over `options`; configurations are loaded now and again on
    /// [`Cni::reload`].
    pub fn new(options: CniOptions) -> Cni {
        let cni = Cni {
            options,
            networks: RwLock::new(Err(String::new())),
        };
        // A missing config is not an error here: it is reported by ready().
        let _ = cni.reload();
        cni
    }

    /// Reloads the configurations from `conf_dir`.
    pub fn reload(&self) -> Result<()> {
        let loaded = config::load_dir(&self.options.conf_dir, self.options.max_conf_num);
        let (outcome, stored) = match loaded {
            Ok(networks) => (Ok(()), Ok(networks)),
            Err(e) => {
                let reason = e.to_string();
                (Err(e), Err(reason))
            }
        };
        if let Ok(mut guard) = self.networks.write() {
            *guard = stored;
        }
        outcome
    }

    /// `Ok` when a network configuration is loaded (the CRI's NetworkReady);
    /// otherwise the reason to report.
    pub fn ready(&self) -> std::result::Result<(), String> {
        match self.networks.read() {
            Ok(guard) => guard.as_ref().map(|_| ()).map_err(Clone::clone),
            Err(_) => Err("the CNI configuration lock is poisoned".into()),
        }
    }

    fn networks(&self) -> Result<Vec<NetworkList>> {
        let guard = self
            .networks
            .read()
            .map_err(|_| Error::InvalidArgument("the CNI configuration lock is poisoned".into()))?;
        match &*guard {
            Ok(networks) => Ok(networks.clone()),
            Err(_) => Err(Error::NoConfig {
                dir: self.options.conf_dir.clone(),
            }),
        }
    }

    fn invocation<'a>(&'a self, req: &'a PodNetworkRequest, ifname: &'a str) -> Invocation<'a> {
        Invocation {
            container_id: &req.sandbox_id,
            netns: &req.netns,
            ifname,
            args: &req.args,
            bin_dirs: &self.options.bin_dirs,
            timeout: self.options.plugin_timeout,
        }
    }

    /// Attaches the pod: loopback, then each configured network. If any
    /// ADD fails, what was attached is torn down again and the error is
    /// returned.
    pub async fn setup(&self, req: &PodNetworkRequest) -> Result<PodNetwork> {
        cache::validate_id(&req.sandbox_id)?;
        let mut plan = vec![("lo".to_string(), NetworkList::loopback())];
        for (i, network) in self.networks()?.into_iter().enumerate() {
            plan.push((format!("eth{i}"), network));
        }
        let mut pod = PodNetwork::default();
        for (ifname, network) in &plan {
            let inv = self.invocation(req, ifname);
            let added = chain::add(network, &inv, &req.runtime).await;
            match added {
                Ok((raw, parsed)) => {
                    let entry = cache::Entry::new(network, ifname, raw);
                    if let Err(e) = cache::store(&self.options.cache_dir, &req.sandbox_id, &entry) {
                        let _ = self.teardown(req).await;
                        return Err(e);
                    }
                    pod.attachments
                        .push((ifname.clone(), network.name.clone(), parsed));
                }
                Err(e) => {
                    let _ = chain::del(network, &inv, &req.runtime, None).await;
                    if let Err(cleanup) = self.teardown(req).await {
                        tracing::warn!(sandbox = %req.sandbox_id, error = %cleanup, "tearing down a partly attached pod network");
                    }
                    return Err(e);
                }
            }
        }
        Ok(pod)
    }

    /// What the pod got at ADD, as recorded in the cache (after a restart:
    /// the pod's IPs without asking the plugins again).
    pub fn cached_network(&self, sandbox_id: &str) -> Result<PodNetwork> {
        let mut pod = PodNetwork::default();
        for entry in cache::load_all(&self.options.cache_dir, sandbox_id)? {
            let name = entry.config["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let raw = serde_json::to_vec(&entry.result).unwrap_or_default();
            let parsed = CniResult::parse(&name, &raw)?;
            pod.attachments.push((entry.ifname, name, parsed));
        }
        Ok(pod)
    }

    /// CHECK of every cached attachment of the pod.
    pub async fn check(&self, req: &PodNetworkRequest) -> Result<()> {
        for entry in cache::load_all(&self.options.cache_dir, &req.sandbox_id)? {
            let network = entry.network()?;
            let inv = self.invocation(req, &entry.ifname);
            chain::check(&network, &inv, &req.runtime, &entry.result).await?;
        }
        Ok(())
    }

    /// Detaches the pod: DEL of every cached attachment, last first, with
    /// the configuration recorded at ADD; with nothing cached (a crash
    /// before the first result was recorded), DEL with today's
    /// configuration. Repeating a teardown succeeds.
    pub async fn teardown(&self, req: &PodNetworkRequest) -> Result<()> {
        cache::validate_id(&req.sandbox_id)?;
        let mut entries = cache::load_all(&self.options.cache_dir, &req.sandbox_id)?;
        if entries.is_empty() && !cache::exists(&self.options.cache_dir, &req.sandbox_id) {
            let mut plan = vec![("lo".to_string(), NetworkList::loopback())];
            if let Ok(networks) = self.networks() {
                for (i, network) in networks.into_iter().enumerate() {
                    plan.push((format!("eth{i}"), network));
                }
            }
            for (ifname, network) in plan.iter().rev() {
                let inv = self.invocation(req, ifname);
                chain::del(network, &inv, &req.runtime, None).await?;
            }
            return Ok(());
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.order));
        for entry in entries {
            let network = entry.network()?;
            let inv = self.invocation(req, &entry.ifname);
            chain::del(&network, &inv, &req.runtime, Some(&entry.result)).await?;
            cache::remove(&self.options.cache_dir, &req.sandbox_id, &entry.ifname)?;
        }
        cache::remove_sandbox(&self.options.cache_dir, &req.sandbox_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ips_come_from_eth0_ipv4_first() {
        let result = CniResult::parse(
            "bridge",
            br#"{"cniVersion":"1.0.0",
                "interfaces":[{"name":"eth0","sandbox":"/ns"}],
                "ips":[{"address":"fd00::2/64","interface":0},{"address":"10.1.0.2/24","interface":0}]}"#,
        )
        .unwrap();
        let pod = PodNetwork {
            attachments: vec![
                ("lo".into(), "cni-loopback".into(), CniResult::default()),
                ("eth0".into(), "net".into(), result),
            ],
        };
        assert_eq!(pod.pod_ips(), ["10.1.0.2", "fd00::2"]);
    }

    #[test]
    fn for_pod_sets_containerds_cni_args() {
        let req = PodNetworkRequest::for_pod("abc", Path::new("/ns"), "default", "web", "u1");
        let keys: Vec<_> = req.args.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "IgnoreUnknown",
                "K8S_POD_NAMESPACE",
                "K8S_POD_NAME",
                "K8S_POD_INFRA_CONTAINER_ID",
                "K8S_POD_UID"
            ]
        );
    }

    #[test]
    fn not_ready_without_config_names_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cni = Cni::new(CniOptions {
            bin_dirs: vec![],
            conf_dir: dir.path().join("net.d"),
            max_conf_num: 1,
            cache_dir: dir.path().join("cache"),
            plugin_timeout: Duration::from_secs(5),
        });
        let reason = cni.ready().unwrap_err();
        assert!(reason.contains("net.d"), "{reason}");
    }
}
