//! CNI results (versions 0.3.0 to 1.1.0 share one shape).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The result versions this crate reads.
const SUPPORTED_VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// What an ADD chain reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The result's version.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces created or configured.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// Addresses assigned.
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    /// Routes added.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// DNS settings the network suggests.
    #[serde(default)]
    pub dns: Dns,
}

/// An interface in a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Hardware address.
    #[serde(default)]
    pub mac: String,
    /// The namespace path for interfaces inside the pod; empty on the host.
    #[serde(default)]
    pub sandbox: String,
}

/// An address in a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length, e.g. `10.88.0.5/16`.
    pub address: String,
    /// The gateway, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces` of the interface holding the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

impl IpConfig {
    /// The address without its prefix length.
    pub fn ip(&self) -> &str {
        self.address.split('/').next().unwrap_or(&self.address)
    }

    /// Whether the address is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.ip().parse::<std::net::Ipv4Addr>().is_ok()
    }
}

/// A route in a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Destination, e.g. `0.0.0.0/0`.
    pub dst: String,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// DNS settings in a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default)]
    pub domain: String,
    /// Search domains.
    #[serde(default)]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default)]
    pub options: Vec<String>,
}

impl CniResult {
    /// Parses the stdout of a successful ADD by `plugin`.
    pub fn parse(plugin: &str, stdout: &[u8]) -> Result<CniResult> {
        let bad = |reason: String| Error::BadResult {
            plugin: plugin.to_string(),
            reason,
        };
        let result: CniResult =
            serde_json::from_slice(stdout).map_err(|e| bad(format!("not a CNI result: {e}")))?;
        if !result.cni_version.is_empty()
            && !SUPPORTED_VERSIONS.contains(&result.cni_version.as_str())
        {
            return Err(bad(format!(
                "result version {} is not supported (use cniVersion 0.3.0 or later in the network config)",
                result.cni_version
            )));
        }
        for ip in &result.ips {
            if ip.interface.is_some_and(|i| i >= result.interfaces.len()) {
                return Err(bad(format!(
                    "address {} names interface {:?}, which the result does not have",
                    ip.address, ip.interface
                )));
            }
        }
        Ok(result)
    }

    /// The addresses on interfaces inside the pod (or on no interface).
    pub fn sandbox_ips(&self) -> impl Iterator<Item = &IpConfig> {
        self.ips.iter().filter(|ip| match ip.interface {
            Some(i) => self
                .interfaces
                .get(i)
                .is_some_and(|itf| !itf.sandbox.is_empty()),
            None => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRIDGE_RESULT: &str = r#"{
      "cniVersion": "1.0.0",
      "interfaces": [
        {"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
        {"name": "veth1", "mac": "aa:bb:cc:dd:ee:02"},
        {"name": "eth0", "mac": "aa:bb:cc:dd:ee:03", "sandbox": "/run/netns/p"}
      ],
      "ips": [
        {"address": "10.99.0.5/24", "gateway": "10.99.0.1", "interface": 2},
        {"address": "fd00::5/64", "interface": 2}
      ],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dns": {}
    }"#;

    #[test]
    fn parses_a_bridge_result() {
        let r = CniResult::parse("bridge", BRIDGE_RESULT.as_bytes()).unwrap();
        let ips: Vec<_> = r.sandbox_ips().map(IpConfig::ip).collect();
        assert_eq!(ips, ["10.99.0.5", "fd00::5"]);
        assert!(r.ips[0].is_ipv4());
        assert!(!r.ips[1].is_ipv4());
    }

    #[test]
    fn old_versions_and_bad_indexes_are_refused() {
        let err = CniResult::parse("x", br#"{"cniVersion":"0.2.0","ip4":{}}"#).unwrap_err();
        assert!(err.to_string().contains("0.2.0"), "{err}");
        let err = CniResult::parse(
            "x",
            br#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/8","interface":3}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("interface"), "{err}");
        assert!(CniResult::parse("x", b"garbage").is_err());
    }
}
