//! Pulling an image the way containerd's CRI does, daemon-side through
//! crated's Transfer service: the reference normalised, credentials from
//! the request, the registry's `hosts.toml` from `registry.config_path`
//! (or made from the legacy `registry.mirrors`/`configs`),
//! unpacked into the configured snapshotter; then the image recorded under
//! its id and repo digest (and tag) too, each labelled as managed by the
//! CRI.

use std::collections::HashMap;

use crated_api::cri;
use crated_client::images::Image;
use crated_client::transfer::{PullOptions, RegistryOptions, Transfer};
use crated_remotes::Reference;
use crated_remotes::hosts::{HostOptions, registry_endpoints};

use super::legacy::Legacy;
use super::reference::{RegistryAuth, hosts_dir_for, normalize, parse_auth, repo_digest_and_tag};
use super::store::LocalImage;
use super::{MANAGED_LABEL, MANAGED_VALUE, PINNED_LABEL, PINNED_VALUE};
use crate::service::CriService;
use crate::{Error, Result};

/// Where the `hosts.toml` files made from the legacy registry keys go,
/// under the plugin's state directory.
const LEGACY_HOSTS_DIR: &str = "registry-hosts.d";

/// Registry `domain` and the hosts of the endpoints `hosts_dir` sends it
/// to: where credentials may be meant for. A `hosts.toml` the resolver
/// cannot read fails the pull itself, with the resolver's error.
fn registry_hosts(hosts_dir: Option<&std::path::Path>, domain: &str) -> Vec<String> {
    let options = HostOptions {
        hosts_dir: hosts_dir.map(std::path::Path::to_path_buf),
        ..HostOptions::default()
    };
    let mut hosts = vec![domain.to_string()];
    let endpoints = registry_endpoints(domain, &options).unwrap_or_default();
    hosts.extend(
        endpoints
            .into_iter()
            .filter_map(|e| e.endpoint.map(|ep| ep.host))
            .filter(|h| h != domain),
    );
    hosts
}

impl CriService {
    /// The labels of the records a pull of `named` creates: managed by the
    /// CRI, and pinned when it is the sandbox image.
    fn pull_labels(&self, named: &Reference) -> HashMap<String, String> {
        let mut labels = HashMap::from([(MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string())]);
        let sandbox = normalize(&self.config().sandbox_image).map(|r| r.to_string());
        if sandbox.is_ok_and(|s| s == named.to_string()) {
            labels.insert(PINNED_LABEL.to_string(), PINNED_VALUE.to_string());
        }
        labels
    }

    /// The registry settings of a pull of `named` with the request's
    /// `auth`: the `hosts.toml` of `registry.config_path`, else the ones
    /// made from the legacy `registry.mirrors`/`configs`; the request's
    /// credentials, else `configs.<host>.auth`.
    fn registry_options(
        &self,
        named: &Reference,
        auth: Option<&cri::AuthConfig>,
    ) -> Result<RegistryOptions> {
        let registry = &self.config().registry;
        let domain = named.domain();
        let legacy = Legacy::parse(registry)?;
        let hosts_dir = if registry.config_path.is_empty() {
            let dir = self.inner.options.state.join(LEGACY_HOSTS_DIR);
            legacy.write_hosts_dir(&dir, domain)?
        } else {
            hosts_dir_for(&registry.config_path, domain)
        };
        let hosts = registry_hosts(hosts_dir.as_deref(), domain);
        let configured = legacy.auth(&hosts);
        let mut options = RegistryOptions {
            hosts_dir,
            ..RegistryOptions::default()
        };
        match parse_auth(auth.or(configured.as_ref()), &hosts)? {
            RegistryAuth::None => {}
            RegistryAuth::Login(credentials) => options.credentials = Some(credentials),
            RegistryAuth::Bearer(token) => {
                options
                    .headers
                    .insert("Authorization".into(), format!("Bearer {token}"));
            }
        }
        Ok(options)
    }

    /// Pulls `named` and unpacks it, records its references, and answers
    /// the image as it is now.
    pub(crate) async fn pull(
        &self,
        named: &Reference,
        auth: Option<&cri::AuthConfig>,
    ) -> Result<LocalImage> {
        let reference = named.to_string();
        let client = self.client().await?;
        let labels = self.pull_labels(named);
        let options = PullOptions {
            registry: self.registry_options(named, auth)?,
            unpack: true,
            snapshotter: self.config().containerd.snapshotter.clone(),
            labels: labels.clone(),
            name: Some(reference.clone()),
            ..PullOptions::default()
        };
        Transfer::new(&client)
            .pull(&reference, &options, |_| {})
            .await
            .map_err(Error::client(format!(
                "failed to pull and unpack image {reference:?}"
            )))?;
        let pulled = client
            .images()
            .get(&reference)
            .await
            .map_err(Error::client(format!(
                "reading the image record {reference:?}"
            )))?;
        let image = self.local_resolve(&reference).await?;
        let (repo_digest, repo_tag) = repo_digest_and_tag(named, &pulled.target.digest);
        for name in [Some(image.id.clone()), repo_tag, Some(repo_digest)]
            .into_iter()
            .flatten()
        {
            self.create_reference(&name, &pulled, &labels).await?;
        }
        self.local_resolve(&image.id).await
    }

    /// Creates image record `name` for `pulled`'s target with `labels`, or
    /// points an existing one there and adds the labels.
    async fn create_reference(
        &self,
        name: &str,
        pulled: &Image,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let images = self.client().await?.images();
        let wanted = Image {
            name: name.to_string(),
            labels: labels.clone(),
            target: pulled.target.clone(),
            ..Image::default()
        };
        let context = || format!("failed to create image reference {name:?}");
        match images.create(&wanted).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() != crated_core::ErrorKind::AlreadyExists => {
                return Err(Error::client(context())(e));
            }
            Err(_) => {}
        }
        let existing = images.get(name).await.map_err(Error::client(context()))?;
        let labelled = labels
            .iter()
            .all(|(k, v)| existing.labels.get(k) == Some(v));
        if existing.target.digest == wanted.target.digest && labelled {
            return Ok(());
        }
        let mut paths = vec!["target".to_string()];
        paths.extend(labels.keys().map(|k| format!("labels.{k}")));
        images
            .update(&wanted, &paths)
            .await
            .map(|_| ())
            .map_err(Error::client(context()))
    }
}
