//! Snapshot operations beyond creating and removing them: label updates,
//! disk usage, the parent tree, and layers made from the difference
//! between snapshots (containerd's `rootfs.CreateDiff`).

use std::collections::HashMap;

use crated_api::services::v1::snapshots::snapshots_client::SnapshotsClient;
use crated_api::services::v1::snapshots::{self as api, UpdateSnapshotRequest, UsageRequest};
use crated_api::types::Mount;
use crated_core::image::Descriptor;
use prost_types::FieldMask;

use crate::client::Client;
use crate::diff::{CompareOptions, Diff};
use crate::error::{Error, Result};
use crate::snapshots::{Info, Kind, Snapshots};

/// The label that makes an object a garbage collection root.
pub const GC_ROOT_LABEL: &str = "containerd.io/gc.root";

/// Disk usage of a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes used.
    pub size: i64,
    /// Inodes used.
    pub inodes: i64,
}

fn grpc(client: &Client) -> SnapshotsClient<tonic::transport::Channel> {
    grpc_client!(client, SnapshotsClient)
}

impl Snapshots {
    /// Updates the labels of snapshot `key`: each of `paths`
    /// (`labels.<key>`, or `labels` for all of them) is taken from
    /// `labels`; a label named in `paths` but absent from `labels` is
    /// removed. Returns the updated information.
    pub async fn update(
        &self,
        key: &str,
        labels: HashMap<String, String>,
        paths: Vec<String>,
    ) -> Result<Info> {
        let client = self.client();
        let request = client.unary_request(UpdateSnapshotRequest {
            snapshotter: self.snapshotter().to_string(),
            info: Some(api::Info {
                name: key.to_string(),
                labels,
                ..Default::default()
            }),
            update_mask: Some(FieldMask { paths }),
        })?;
        let response = client
            .unary("snapshots update", grpc(client).update(request))
            .await?;
        response
            .info
            .map(Info::from)
            .ok_or_else(|| Error::protocol("snapshots update: the answer has no info"))
    }

    /// The disk usage of snapshot `key` (of its own layer, not its
    /// parents').
    pub async fn usage(&self, key: &str) -> Result<Usage> {
        let client = self.client();
        let request = client.unary_request(UsageRequest {
            snapshotter: self.snapshotter().to_string(),
            key: key.to_string(),
        })?;
        let response = client
            .unary("snapshots usage", grpc(client).usage(request))
            .await?;
        Ok(Usage {
            size: response.size,
            inodes: response.inodes,
        })
    }

    /// Mounts of snapshot `key` to read it: its own when it is active,
    /// otherwise those of a new view named `<key>-view-key`, which the
    /// caller removes (returned second).
    pub async fn readable_mounts(&self, key: &str) -> Result<(Vec<Mount>, Option<String>)> {
        let info = self.stat(key).await?;
        if info.kind == Kind::Active {
            return Ok((self.mounts(key).await?, None));
        }
        let view = format!("{key}-view-key");
        let mounts = self.view(&view, key, HashMap::new()).await?;
        Ok((mounts, Some(view)))
    }

    /// Writes the changes of snapshot `upper` over snapshot `lower` (over
    /// `upper`'s parent when `None`, or over nothing when it has none) as a
    /// layer into the content store, the way `ctr snapshots diff` does.
    pub async fn diff(
        &self,
        upper: &str,
        lower: Option<&str>,
        options: &CompareOptions,
    ) -> Result<Descriptor> {
        let lower = match lower {
            Some(lower) => Some(lower.to_string()),
            None => Some(self.stat(upper).await?.parent).filter(|p| !p.is_empty()),
        };
        let mut views = Vec::new();
        let result = async {
            let (upper_mounts, view) = self.readable_mounts(upper).await?;
            views.extend(view);
            let lower_mounts = match &lower {
                Some(lower) => {
                    let (mounts, view) = self.readable_mounts(lower).await?;
                    views.extend(view);
                    mounts
                }
                None => Vec::new(),
            };
            Diff::new(self.client())
                .compare(lower_mounts, upper_mounts, options)
                .await
        }
        .await;
        for view in views {
            if let Err(err) = self.remove(&view).await {
                tracing::warn!(view, error = %err, "removing a temporary view");
            }
        }
        result
    }
}

/// Snapshots arranged by parent, in the order they were listed, as
/// `ctr snapshots tree` prints them.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    nodes: Vec<(String, String)>,
    children: HashMap<String, Vec<String>>,
}

impl Tree {
    /// The tree of `infos`. A parent that is not listed gets a node of its
    /// own.
    pub fn new(infos: &[Info]) -> Tree {
        let mut tree = Tree::default();
        for info in infos {
            tree.add(&info.name, &info.parent);
        }
        tree
    }

    fn add(&mut self, name: &str, parent: &str) {
        match self.nodes.iter_mut().find(|(n, _)| n == name) {
            Some(node) => node.1 = parent.to_string(),
            None => self.nodes.push((name.to_string(), parent.to_string())),
        }
        if !parent.is_empty() {
            if !self.nodes.iter().any(|(n, _)| n == parent) {
                self.add(parent, "");
            }
            self.children
                .entry(parent.to_string())
                .or_default()
                .push(name.to_string());
        }
    }

    /// The tree as text: roots at the left, each child indented two more
    /// spaces and marked `\_`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, parent) in &self.nodes {
            if parent.is_empty() {
                self.render_node(name, 0, &mut out);
            }
        }
        out
    }

    fn render_node(&self, name: &str, level: usize, out: &mut String) {
        out.push_str(&"  ".repeat(level));
        if level > 0 {
            out.push_str("\\_");
        }
        out.push(' ');
        out.push_str(name);
        out.push('\n');
        for child in self.children.get(name).into_iter().flatten() {
            self.render_node(child, level + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, parent: &str) -> Info {
        Info {
            name: name.into(),
            parent: parent.into(),
            kind: Kind::Committed,
            created_at: None,
            updated_at: None,
            labels: HashMap::new(),
        }
    }

    #[test]
    fn tree_renders_like_ctr() {
        let tree = Tree::new(&[
            info("a", ""),
            info("b", "a"),
            info("c", "b"),
            info("d", "a"),
            info("orphan", "missing"),
        ]);
        assert_eq!(
            tree.render(),
            " a\n  \\_ b\n    \\_ c\n  \\_ d\n missing\n  \\_ orphan\n"
        );
    }

    #[test]
    fn a_parent_listed_after_its_child_keeps_its_place() {
        let tree = Tree::new(&[info("b", "a"), info("a", "")]);
        assert_eq!(tree.render(), " a\n  \\_ b\n");
        assert_eq!(Tree::new(&[]).render(), "");
    }
}
