//! Garbage collection: mark everything reachable from the roots (images,
//! containers, unexpired leases, `containerd.io/gc.root` objects) through
//! containerd's reference labels and snapshot parents, then sweep the rest
//! from every namespace. Expired leases are removed too.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use crated_core::container::Container;
use crated_core::image::Image;
use crated_core::{ErrorKind, Result};

use crate::content::NamespacedContent;
use crate::db::{
    self, CONTAINERS, CONTENT, Db, IMAGES, LEASE_RESOURCES, LEASES, NAMESPACES, SNAPSHOTS, db_err,
};
use crate::keys;
use crate::records::{BlobRecord, LeaseRecord};
use crate::snapshots::{NamespacedSnapshots, SnapshotRecord};
use redb::ReadableTable;

const GC_ROOT: &str = "containerd.io/gc.root";
const GC_EXPIRE: &str = "containerd.io/gc.expire";
const REF_CONTENT: &str = "containerd.io/gc.ref.content";
const REF_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.";

/// A node of the reference graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// A blob `(namespace, digest)`.
    Content(String, String),
    /// A snapshot `(namespace, snapshotter, key)`.
    Snapshot(String, String, String),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Content(ns, d) => write!(f, "content {d} (namespace {ns})"),
            Node::Snapshot(ns, sn, key) => {
                write!(f, "snapshot {key} ({sn}, namespace {ns})")
            }
        }
    }
}

/// How the mark phase reached a node: from a root, or from another node
/// through one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// A root holds it; the text names the root (image, container, lease,
    /// `gc.root` label).
    Root(String),
    /// Another marked node references it; the text names the reference
    /// (a `gc.ref` label or the snapshot parent).
    From(Node, String),
}

/// One link of the chain that keeps an object alive, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The object this link reaches.
    pub node: Node,
    /// What reached it.
    pub reached: Reached,
}

/// The answer of [`why`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Nothing reaches the object: the next collection removes it.
    Collectable,
    /// The chain of references from a root to the object, root first.
    Held(Vec<Link>),
}

/// What one collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Blob references removed.
    pub content: usize,
    /// Snapshots removed.
    pub snapshots: usize,
    /// Expired leases removed.
    pub leases: usize,
}

/// Pushes every node the reference labels name, with the label key.
fn label_refs(ns: &str, labels: &HashMap<String, String>, out: &mut Vec<(Node, String)>) {
    for (k, v) in labels {
        if k.starts_with(REF_CONTENT) {
            out.push((Node::Content(ns.into(), v.clone()), format!("label {k}")));
        } else if let Some(rest) = k.strip_prefix(REF_SNAPSHOT) {
            let snapshotter = rest.split('/').next().unwrap_or(rest);
            out.push((
                Node::Snapshot(ns.into(), snapshotter.into(), v.clone()),
                format!("label {k}"),
            ));
        }
    }
}

/// Adds the label references of a root object as roots named after it.
fn root_label_refs(
    ns: &str,
    holder: &str,
    labels: &HashMap<String, String>,
    roots: &mut Vec<(Node, Reached)>,
) {
    let mut refs = Vec::new();
    label_refs(ns, labels, &mut refs);
    roots.extend(
        refs.into_iter()
            .map(|(n, why)| (n, Reached::Root(format!("{holder} {why}")))),
    );
}

fn expired(labels: &HashMap<String, String>, now: DateTime<Utc>) -> bool {
    labels
        .get(GC_EXPIRE)
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .is_some_and(|t| t < now)
}

/// Everything the mark phase read, in one consistent snapshot.
#[derive(Default)]
struct Graph {
    roots: Vec<(Node, Reached)>,
    content: HashMap<(String, String), BlobRecord>,
    snapshots: HashMap<(String, String, String), SnapshotRecord>,
    expired_leases: Vec<(String, String)>,
}

fn read_graph(txn: &redb::WriteTransaction, now: DateTime<Utc>) -> Result<Graph> {
    {
        let mut g = Graph::default();
        let namespaces: Vec<String> = {
            let t = txn.open_table(NAMESPACES).map_err(db_err)?;
            let mut v = Vec::new();
            for row in t.iter().map_err(db_err)? {
                v.push(row.map_err(db_err)?.0.value().to_string());
            }
            v
        };
        let leases = txn.open_table(LEASES).map_err(db_err)?;
        let resources = txn.open_table(LEASE_RESOURCES).map_err(db_err)?;
        let images = txn.open_table(IMAGES).map_err(db_err)?;
        let containers = txn.open_table(CONTAINERS).map_err(db_err)?;
        let content = txn.open_table(CONTENT).map_err(db_err)?;
        let snapshots = txn.open_table(SNAPSHOTS).map_err(db_err)?;
        for ns in &namespaces {
            let p = keys::prefix(&[ns]);
            for (k, lease) in db::scan::<LeaseRecord>(&leases, &p)? {
                let id = keys::split(&k)
                    .get(1)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if expired(&lease.labels, now) {
                    g.expired_leases.push((ns.clone(), id));
                    continue;
                }
                let rp = keys::prefix(&[ns, &id]);
                for row in resources
                    .range(rp.as_str()..keys::prefix_end(&rp).as_str())
                    .map_err(db_err)?
                {
                    let (rk, _) = row.map_err(db_err)?;
                    if let [_, _, kind, rid] = keys::split(rk.value()).as_slice() {
                        let held = Reached::Root(format!("lease {id}"));
                        if *kind == "content" {
                            g.roots
                                .push((Node::Content(ns.clone(), rid.to_string()), held));
                        } else if let Some(sn) = kind.strip_prefix("snapshots/") {
                            let node = Node::Snapshot(ns.clone(), sn.to_string(), rid.to_string());
                            g.roots.push((node, held));
                        }
                    }
                }
            }
            for (_, image) in db::scan::<Image>(&images, &p)? {
                let holder = format!("image {}", image.name);
                g.roots.push((
                    Node::Content(ns.clone(), image.target.digest.clone()),
                    Reached::Root(format!("{holder} target")),
                ));
                root_label_refs(ns, &holder, &image.labels, &mut g.roots);
            }
            for (_, c) in db::scan::<Container>(&containers, &p)? {
                let holder = format!("container {}", c.id);
                if !c.snapshot_key.is_empty() {
                    g.roots.push((
                        Node::Snapshot(ns.clone(), c.snapshotter.clone(), c.snapshot_key.clone()),
                        Reached::Root(format!("{holder} snapshot key")),
                    ));
                }
                root_label_refs(ns, &holder, &c.labels, &mut g.roots);
            }
            for (k, blob) in db::scan::<BlobRecord>(&content, &p)? {
                let d = keys::split(&k)
                    .get(1)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                if blob.labels.contains_key(GC_ROOT) {
                    g.roots.push((
                        Node::Content(ns.clone(), d.clone()),
                        Reached::Root(format!("its {GC_ROOT} label")),
                    ));
                }
                g.content.insert((ns.clone(), d), blob);
            }
            for (k, snap) in db::scan::<SnapshotRecord>(&snapshots, &p)? {
                if let [_, sn, key] = keys::split(&k).as_slice() {
                    let node = (ns.clone(), sn.to_string(), key.to_string());
                    if snap.labels.contains_key(GC_ROOT) {
                        g.roots.push((
                            Node::Snapshot(node.0.clone(), node.1.clone(), node.2.clone()),
                            Reached::Root(format!("its {GC_ROOT} label")),
                        ));
                    }
                    g.snapshots.insert(node, snap);
                }
            }
        }
        Ok(g)
    }
}

/// Marks every node reachable from the roots, recording for each the first
/// way it was reached (breadth first, so the recorded chains are shortest).
fn mark(g: &Graph) -> HashMap<Node, Reached> {
    let mut marked = HashMap::new();
    let mut queue: VecDeque<(Node, Reached)> = g.roots.iter().cloned().collect();
    while let Some((node, reached)) = queue.pop_front() {
        if marked.contains_key(&node) {
            continue;
        }
        marked.insert(node.clone(), reached);
        let mut next = Vec::new();
        match &node {
            Node::Content(ns, d) => {
                if let Some(blob) = g.content.get(&(ns.clone(), d.clone())) {
                    label_refs(ns, &blob.labels, &mut next);
                }
            }
            Node::Snapshot(ns, sn, key) => {
                if let Some(s) = g.snapshots.get(&(ns.clone(), sn.clone(), key.clone())) {
                    if !s.parent.is_empty() {
                        let parent = Node::Snapshot(ns.clone(), sn.clone(), s.parent.clone());
                        next.push((parent, "parent".to_string()));
                    }
                    label_refs(ns, &s.labels, &mut next);
                }
            }
        }
        queue.extend(
            next.into_iter()
                .map(|(n, via)| (n, Reached::From(node.clone(), via))),
        );
    }
    marked
}

/// Follows the recorded predecessors from `node` back to its root. A
/// predecessor was always marked before its successor, so this ends.
fn chain(marked: &HashMap<Node, Reached>, node: &Node) -> Option<Vec<Link>> {
    let mut links = Vec::new();
    let mut at = node.clone();
    while let Some(reached) = marked.get(&at) {
        links.push(Link {
            node: at.clone(),
            reached: reached.clone(),
        });
        match reached {
            Reached::Root(_) => {
                links.reverse();
                return Some(links);
            }
            Reached::From(prev, _) => at = prev.clone(),
        }
    }
    None
}

/// Why the next collection keeps `node`: the chain of references from a
/// root, or [`Why::Collectable`]. Runs the collection's own mark phase and
/// removes nothing. `NotFound` when the node has no record.
pub fn why(db: &Db, node: &Node) -> Result<Why> {
    let now = Utc::now();
    let graph = db.write(|txn| read_graph(txn, now))?;
    let known = match node {
        Node::Content(ns, d) => graph.content.contains_key(&(ns.clone(), d.clone())),
        Node::Snapshot(ns, sn, key) => {
            graph
                .snapshots
                .contains_key(&(ns.clone(), sn.clone(), key.clone()))
        }
    };
    if !known {
        return Err(crated_core::Error::new(
            ErrorKind::NotFound,
            format!(
                "gc why: no record of {node}; check the digest or key, the namespace (-n) and the snapshotter"
            ),
        ));
    }
    Ok(match chain(&mark(&graph), node) {
        Some(links) => Why::Held(links),
        None => Why::Collectable,
    })
}

/// What the metadata sweep removed and what must go from the backends.
#[derive(Default)]
struct Swept {
    stats: GcStats,
    /// Digests whose records were removed (their bytes go if no namespace
    /// has them).
    blobs: Vec<String>,
    /// `(snapshotter, backend key)` of removed snapshots, children first.
    snapshots: Vec<(String, String)>,
}

/// Marks and removes records in one write transaction, so nothing that
/// becomes referenced meanwhile can be removed (as containerd holds its
/// database lock through mark and sweep).
fn sweep(txn: &redb::WriteTransaction, now: DateTime<Utc>) -> Result<Swept> {
    let graph = read_graph(txn, now)?;
    let mut swept = Swept::default();
    for (ns, id) in &graph.expired_leases {
        match crate::leases::delete_in(txn, ns, id) {
            Ok(()) => swept.stats.leases += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let marked = mark(&graph);
    let mut content_table = txn.open_table(CONTENT).map_err(db_err)?;
    for (ns, d) in graph.content.keys() {
        if marked.contains_key(&Node::Content(ns.clone(), d.clone())) {
            continue;
        }
        content_table
            .remove(keys::key(&[ns, d]).as_str())
            .map_err(db_err)?;
        swept.stats.content += 1;
        swept.blobs.push(d.clone());
    }
    drop(content_table);
    let mut doomed: Vec<(String, String, String)> = graph
        .snapshots
        .keys()
        .filter(|(ns, sn, key)| {
            !marked.contains_key(&Node::Snapshot(ns.clone(), sn.clone(), key.clone()))
        })
        .cloned()
        .collect();
    let mut snapshot_table = txn.open_table(SNAPSHOTS).map_err(db_err)?;
    while !doomed.is_empty() {
        let parents: HashSet<(String, String, String)> = doomed
            .iter()
            .filter_map(|n| {
                graph
                    .snapshots
                    .get(n)
                    .map(|s| (n.0.clone(), n.1.clone(), s.parent.clone()))
            })
            .collect();
        let (leaves, rest): (Vec<_>, Vec<_>) =
            doomed.into_iter().partition(|n| !parents.contains(n));
        if leaves.is_empty() {
            tracing::warn!(left = rest.len(), "gc: snapshot parent cycle; leaving them");
            break;
        }
        for node in &leaves {
            let (ns, sn, key) = node;
            snapshot_table
                .remove(keys::key(&[ns, sn, key]).as_str())
                .map_err(db_err)?;
            if let Some(record) = graph.snapshots.get(node) {
                swept
                    .snapshots
                    .push((sn.clone(), record.backend_key.clone()));
            }
            swept.stats.snapshots += 1;
        }
        doomed = rest;
    }
    Ok(swept)
}

/// Runs one collection over every namespace: the metadata sweep in one
/// transaction, then the bytes and backend snapshots it left unreferenced,
/// then the cleanup of every snapshotter with a remove since its last one.
pub fn collect(
    db: &Db,
    content: &NamespacedContent,
    snapshots: &NamespacedSnapshots,
) -> Result<GcStats> {
    let now = Utc::now();
    let swept = db.write(|txn| sweep(txn, now))?;
    if let Err(e) = content.remove_unreferenced(&swept.blobs) {
        tracing::warn!(error = %e, "gc: removing unreferenced blobs");
    }
    snapshots.remove_backends(&swept.snapshots);
    snapshots.cleanup_dirty();
    Ok(swept.stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fake;
    use crate::{Images, Leases};
    use crated_core::content::ContentStore;
    use crated_core::image::Descriptor;
    use crated_core::snapshot::Snapshotter;
    use sha2::Digest;
    use std::sync::Arc;

    struct Env {
        _dir: tempfile::TempDir,
        db: Db,
        content: NamespacedContent,
        snapshots: NamespacedSnapshots,
        fake: Arc<Fake>,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db")).unwrap();
        let store: Arc<dyn ContentStore> =
            Arc::new(crated_content::LocalStore::open(dir.path().join("c")).unwrap());
        let fake = Arc::new(Fake::default());
        let backends = HashMap::from([("fake".to_string(), fake.clone() as Arc<dyn Snapshotter>)]);
        Env {
            content: NamespacedContent::new(db.clone(), store),
            snapshots: NamespacedSnapshots::new(db.clone(), backends),
            _dir: dir,
            db,
            fake,
        }
    }

    fn blob(
        e: &Env,
        ns: &str,
        data: &[u8],
        labels: HashMap<String, String>,
        lease: Option<&str>,
    ) -> String {
        let mut w = e
            .content
            .writer(ns, &format!("ref-{}", data.len()), 0, "", lease)
            .unwrap();
        w.write(data).unwrap();
        w.commit(0, "", labels).unwrap()
    }

    /// Creates image `name` in namespace `ns` pointing at `target`.
    fn image(e: &Env, name: &str, target: &str) -> Images {
        let images = Images::new(e.db.clone());
        let target = Descriptor {
            media_type: "m".into(),
            digest: target.into(),
            size: 9,
            annotations: HashMap::new(),
        };
        images
            .create(
                "ns",
                Image {
                    name: name.into(),
                    labels: HashMap::new(),
                    target,
                    created_at: Utc::now(),
                    updated_at: Utc::now(),
                },
            )
            .unwrap();
        images
    }

    #[test]
    fn images_keep_their_reference_chain_and_the_rest_goes() {
        let e = env();
        let layer = blob(&e, "ns", b"layer", HashMap::new(), None);
        let manifest = blob(
            &e,
            "ns",
            b"manifest!",
            HashMap::from([(format!("{REF_CONTENT}.l.0"), layer.clone())]),
            None,
        );
        let orphan = blob(&e, "ns", b"orphan-blob", HashMap::new(), None);
        let images = image(&e, "img", &manifest);
        let stats = collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert_eq!(stats.content, 1);
        assert!(e.content.info("ns", &layer).is_ok());
        assert!(e.content.info("ns", &manifest).is_ok());
        assert!(e.content.info("ns", &orphan).is_err());
        images.delete("ns", "img").unwrap();
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert!(e.content.list("ns").unwrap().is_empty());
    }

    #[test]
    fn leases_protect_until_removed_or_expired() {
        let e = env();
        let leases = Leases::new(e.db.clone());
        leases.create("ns", "live", HashMap::new()).unwrap();
        let past = HashMap::from([(GC_EXPIRE.to_string(), "2000-01-01T00:00:00Z".to_string())]);
        leases.create("ns", "old", past).unwrap();
        let kept = blob(&e, "ns", b"kept", HashMap::new(), Some("live"));
        let expired_blob = blob(&e, "ns", b"expired", HashMap::new(), Some("old"));
        e.snapshots
            .prepare("ns", "fake", "base-key", "", HashMap::new(), Some("live"))
            .unwrap();
        e.snapshots
            .commit(
                "ns",
                "fake",
                "base",
                "base-key",
                HashMap::new(),
                Some("live"),
            )
            .unwrap();
        e.snapshots
            .prepare("ns", "fake", "child", "base", HashMap::new(), None)
            .unwrap();
        let stats = collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert_eq!(stats.leases, 1);
        assert!(e.content.info("ns", &kept).is_ok());
        assert!(e.content.info("ns", &expired_blob).is_err());
        assert!(e.snapshots.stat("ns", "fake", "base").is_ok());
        assert!(e.snapshots.stat("ns", "fake", "child").is_err());
        leases.delete("ns", "live").unwrap();
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert!(e.content.list("ns").unwrap().is_empty());
        assert!(e.snapshots.list("ns", "fake").unwrap().is_empty());
        assert!(
            e.fake.snaps.lock().unwrap().is_empty(),
            "backend snapshots removed too"
        );
    }

    #[test]
    fn gc_root_label_and_snapshot_chains() {
        let e = env();
        let root = blob(
            &e,
            "ns",
            b"root",
            HashMap::from([(GC_ROOT.to_string(), "x".to_string())]),
            None,
        );
        e.snapshots
            .prepare("ns", "fake", "k1", "", HashMap::new(), None)
            .unwrap();
        e.snapshots
            .commit("ns", "fake", "l1", "k1", HashMap::new(), None)
            .unwrap();
        e.snapshots
            .prepare("ns", "fake", "k2", "l1", HashMap::new(), None)
            .unwrap();
        e.snapshots
            .commit(
                "ns",
                "fake",
                "l2",
                "k2",
                HashMap::from([(GC_ROOT.to_string(), "y".to_string())]),
                None,
            )
            .unwrap();
        e.snapshots
            .prepare("ns", "fake", "stray", "", HashMap::new(), None)
            .unwrap();
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert!(e.content.info("ns", &root).is_ok());
        assert!(
            e.snapshots.stat("ns", "fake", "l1").is_ok(),
            "parent of a root survives"
        );
        assert!(e.snapshots.stat("ns", "fake", "stray").is_err());
    }

    #[test]
    fn why_follows_the_mark_from_image_to_layer_and_names_the_collectable() {
        let e = env();
        let layer = blob(&e, "ns", b"layer", HashMap::new(), None);
        let label = format!("{REF_CONTENT}.l.0");
        let manifest = blob(
            &e,
            "ns",
            b"manifest!",
            HashMap::from([(label.clone(), layer.clone())]),
            None,
        );
        let orphan = blob(&e, "ns", b"orphan-blob", HashMap::new(), None);
        image(&e, "img", &manifest);
        let m = Node::Content("ns".into(), manifest);
        let l = Node::Content("ns".into(), layer);
        let expected = vec![
            Link {
                node: m.clone(),
                reached: Reached::Root("image img target".into()),
            },
            Link {
                node: l.clone(),
                reached: Reached::From(m, format!("label {label}")),
            },
        ];
        assert_eq!(why(&e.db, &l).unwrap(), Why::Held(expected));
        let o = Node::Content("ns".into(), orphan.clone());
        assert_eq!(why(&e.db, &o).unwrap(), Why::Collectable);
        assert!(e.content.info("ns", &orphan).is_ok(), "why removes nothing");
        let missing = Node::Content("ns".into(), "sha256:00".into());
        assert_eq!(
            why(&e.db, &missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn why_names_the_lease_and_the_parent_link_of_a_snapshot() {
        let e = env();
        Leases::new(e.db.clone())
            .create("ns", "pull", HashMap::new())
            .unwrap();
        e.snapshots
            .prepare("ns", "fake", "k1", "", HashMap::new(), None)
            .unwrap();
        e.snapshots
            .commit("ns", "fake", "base", "k1", HashMap::new(), None)
            .unwrap();
        e.snapshots
            .prepare("ns", "fake", "top", "base", HashMap::new(), Some("pull"))
            .unwrap();
        let top = Node::Snapshot("ns".into(), "fake".into(), "top".into());
        let base = Node::Snapshot("ns".into(), "fake".into(), "base".into());
        let expected = vec![
            Link {
                node: top.clone(),
                reached: Reached::Root("lease pull".into()),
            },
            Link {
                node: base.clone(),
                reached: Reached::From(top, "parent".into()),
            },
        ];
        assert_eq!(why(&e.db, &base).unwrap(), Why::Held(expected));
    }

    #[test]
    fn a_remove_outside_gc_makes_the_next_collection_clean_the_snapshotter() {
        let e = env();
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert_eq!(
            e.fake.cleanups(),
            1,
            "the first collection cleans every snapshotter"
        );
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert_eq!(e.fake.cleanups(), 1, "nothing removed, nothing to clean");
        e.snapshots
            .prepare("ns", "fake", "c1", "", HashMap::new(), None)
            .unwrap();
        let root = HashMap::from([(GC_ROOT.to_string(), "x".to_string())]);
        e.snapshots
            .prepare("ns", "fake", "kept", "", root, None)
            .unwrap();
        e.snapshots.remove("ns", "fake", "c1").unwrap();
        let stats = collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert_eq!(
            stats.snapshots, 0,
            "the removed snapshot was not the collection's"
        );
        assert_eq!(
            e.fake.cleanups(),
            2,
            "a remove marks the snapshotter for cleanup"
        );
    }

    #[test]
    fn an_existing_blob_joins_the_second_writers_lease() {
        let e = env();
        let leases = Leases::new(e.db.clone());
        leases.create("ns", "first", HashMap::new()).unwrap();
        leases.create("ns", "second", HashMap::new()).unwrap();
        let d = blob(&e, "ns", b"shared layer", HashMap::new(), Some("first"));
        let err = e
            .content
            .writer("ns", "second-ref", 12, &d, Some("second"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        leases.delete("ns", "first").unwrap();
        collect(&e.db, &e.content, &e.snapshots).unwrap();
        assert!(
            e.content.reader_at("ns", &d).is_ok(),
            "the second writer's lease holds the blob"
        );
    }

    /// Writers of one blob under fresh leases race collections: a blob is
    /// never missing while a live lease holds it.
    #[test]
    fn writes_under_leases_racing_collections_lose_nothing() {
        let e = Arc::new(env());
        let leases = Leases::new(e.db.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let (e, stop) = (e.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    collect(&e.db, &e.content, &e.snapshots).unwrap();
                }
            })
        };
        let data = b"a layer many pulls share".to_vec();
        let d = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
        let mut lost = Vec::new();
        for i in 0..150 {
            let lease = format!("pull-{i}");
            leases.create("ns", &lease, HashMap::new()).unwrap();
            match e.content.writer("ns", &lease, 0, &d, Some(&lease)) {
                Ok(mut w) => {
                    w.write(&data).unwrap();
                    match w.commit(0, &d, HashMap::new()) {
                        Ok(_) => {}
                        Err(err) => assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}"),
                    }
                }
                Err(err) => assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}"),
            }
            if i > 0 {
                leases.delete("ns", &format!("pull-{}", i - 1)).unwrap();
            }
            if e.content.reader_at("ns", &d).is_err() {
                lost.push(i);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        collector.join().unwrap();
        assert!(
            lost.is_empty(),
            "blob missing under a live lease at {lost:?}"
        );
    }
}
