//! Image archives: the OCI image layout and `docker save` tars, in and out.
//! Blobs travel through the caller's [`BlobSink`] and [`BlobSource`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};

use crated_core::digest::Sha256Digester;
use crated_core::image::Descriptor;
use crated_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::manifest::{Index, JsonDescriptor, Manifest};
use crate::media;
use crate::walk::{self, PlatformChoice};

/// The annotation containerd stores an image's full name in.
pub const NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The OCI annotation for a reference (usually just the tag).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The largest `index.json` or `manifest.json` an archive may carry
/// (containerd's importer limit, 20 MiB).
pub const MAX_ARCHIVE_JSON: u64 = 20 << 20;

/// Where imported blobs go.
pub trait BlobSink {
    /// Stores a blob read from `reader`, checking it against `expected`
    /// when given; returns its digest and size.
    fn put(
        &mut self,
        expected: Option<&Descriptor>,
        reader: &mut dyn Read,
    ) -> Result<(String, i64)>;
}

/// Where exported blobs come from.
pub trait BlobSource {
    /// A reader of the whole blob `digest`.
    fn open(&self, digest: &str) -> Result<Box<dyn Read + '_>>;
}

/// An image found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Its full name.
    pub name: String,
    /// Its root descriptor.
    pub target: Descriptor,
}

/// One entry of a `docker save` `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Completes a short name the way Docker does: `busybox` →
/// `docker.io/library/busybox:latest`.
pub fn normalize_name(name: &str) -> String {
    let (repo, suffix) = match name.rfind(['@', ':']) {
        Some(i) if !name[i..].contains('/') => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let first = repo.split('/').next().unwrap_or_default();
    let has_registry =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_registry {
        repo.to_string()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    let suffix = if suffix.is_empty() { ":latest" } else { suffix };
    format!("{repo}{suffix}")
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::with_source(
        crated_core::ErrorKind::InvalidArgument,
        format_args!("reading image archive: {what}"),
        e,
    )
}

fn blob_path_digest(path: &str) -> Option<String> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    (!hex.is_empty() && !hex.contains('/')).then(|| format!("{alg}:{hex}"))
}

/// Reads an OCI layout or `docker save` tar, storing every blob, and
/// returns the images it names. `base_name` names images whose index entry
/// carries only a tag (or nothing).
pub fn import(
    reader: impl Read,
    sink: &mut dyn BlobSink,
    base_name: Option<&str>,
) -> Result<Vec<Imported>> {
    let mut archive = tar::Archive::new(reader);
    let mut index_json = None;
    let mut docker_manifest = None;
    let mut files: HashMap<String, (String, i64, String)> = HashMap::new();
    for entry in archive.entries().map_err(|e| io_err("entries", e))? {
        let mut entry = entry.map_err(|e| io_err("entry", e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| io_err("path", e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let size = entry.header().size().map_err(|e| io_err("size", e))? as i64;
        match path.as_str() {
            "index.json" | "manifest.json" => {
                if size as u64 > MAX_ARCHIVE_JSON {
                    return Err(Error::new(
                        crated_core::ErrorKind::ResourceExhausted,
                        format!(
                            "{path} of the image archive is {size} bytes, over the {MAX_ARCHIVE_JSON}-byte limit"
                        ),
                    ));
                }
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf).map_err(|e| io_err(&path, e))?;
                if path == "index.json" {
                    index_json = Some(buf)
                } else {
                    docker_manifest = Some(buf)
                }
                continue;
            }
            "oci-layout" | "repositories" => continue,
            _ => {}
        }
        let mut magic = [0u8; 4];
        let got = read_prefix(&mut entry, &mut magic).map_err(|e| io_err(&path, e))?;
        let mut chained = std::io::Cursor::new(magic[..got].to_vec()).chain(entry);
        let expected = blob_path_digest(&path).map(|digest| Descriptor {
            digest,
            size,
            ..Default::default()
        });
        let (digest, size) = sink
            .put(expected.as_ref(), &mut chained)
            .map_err(|e| e.context(format!("blob {path}")))?;
        let layer_type = if magic[..got].starts_with(&[0x1f, 0x8b]) {
            media::OCI_LAYER_GZIP
        } else {
            media::OCI_LAYER
        };
        files.insert(path, (digest, size, layer_type.to_string()));
    }
    if let Some(bytes) = index_json {
        return named_from_index(&Index::parse(&bytes)?, base_name);
    }
    if let Some(bytes) = docker_manifest {
        return import_docker(&bytes, &files, sink);
    }
    Err(Error::invalid_argument(
        "image archive has neither index.json (OCI layout) nor manifest.json (docker save)",
    ))
}

fn read_prefix(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn named_from_index(index: &Index, base_name: Option<&str>) -> Result<Vec<Imported>> {
    let mut out = Vec::new();
    for m in &index.manifests {
        let name = match (
            m.annotations.get(NAME_ANNOTATION),
            m.annotations.get(REF_NAME_ANNOTATION),
            base_name,
        ) {
            (Some(full), _, _) => full.clone(),
            (None, Some(tag), Some(base)) => normalize_name(&format!("{base}:{tag}")),
            (None, Some(r), None) if r.contains('/') || r.contains(':') => normalize_name(r),
            (None, None, Some(base)) => normalize_name(base),
            _ => continue,
        };
        let mut target = m.to_core();
        target.annotations.clear();
        out.push(Imported { name, target });
    }
    Ok(out)
}

fn import_docker(
    bytes: &[u8],
    files: &HashMap<String, (String, i64, String)>,
    sink: &mut dyn BlobSink,
) -> Result<Vec<Imported>> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(bytes).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::InvalidArgument,
            "invalid docker manifest.json",
            e,
        )
    })?;
    let find = |p: &str| {
        files
            .get(p)
            .ok_or_else(|| Error::invalid_argument(format!("docker archive is missing {p}")))
    };
    let mut out = Vec::new();
    for e in entries {
        let (config_digest, config_size, _) = find(&e.config)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let (digest, size, media_type) = find(l)?;
            let media_type = if media_type == media::OCI_LAYER_GZIP {
                media::DOCKER_LAYER_GZIP
            } else {
                "application/vnd.docker.image.rootfs.diff.tar"
            };
            layers.push(JsonDescriptor {
                media_type: media_type.into(),
                digest: digest.clone(),
                size: *size,
                ..Default::default()
            });
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: media::DOCKER_MANIFEST.into(),
            config: JsonDescriptor {
                media_type: media::DOCKER_CONFIG.into(),
                digest: config_digest.clone(),
                size: *config_size,
                ..Default::default()
            },
            layers,
            annotations: HashMap::new(),
        };
        let body = serde_json::to_vec(&manifest).map_err(|e| {
            Error::with_source(crated_core::ErrorKind::Internal, "encoding manifest", e)
        })?;
        let (digest, size) = sink.put(None, &mut body.as_slice())?;
        let target = Descriptor {
            media_type: media::DOCKER_MANIFEST.into(),
            digest,
            size,
            annotations: HashMap::new(),
        };
        for tag in e.repo_tags.unwrap_or_default() {
            out.push(Imported {
                name: normalize_name(&tag),
                target: target.clone(),
            });
        }
    }
    Ok(out)
}

fn read_all(source: &dyn BlobSource, digest: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    source.open(digest)?.read_to_end(&mut buf).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("reading blob {digest}"),
            e,
        )
    })?;
    Ok(buf)
}

fn append(
    builder: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: &mut dyn Read,
) -> Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o444);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path, data).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            format_args!("writing {path} to the archive"),
            e,
        )
    })
}

/// Writes the images into an OCI layout tar that `docker load` reads too
/// (it carries a `manifest.json` for single-platform images).
pub fn export(
    images: &[(String, Descriptor)],
    source: &dyn BlobSource,
    choice: &PlatformChoice,
    writer: impl Write,
) -> Result<()> {
    let mut blobs: BTreeMap<String, i64> = BTreeMap::new();
    let mut docker = Vec::new();
    for (name, target) in images {
        let mut stack = vec![target.clone()];
        let mut seen = HashSet::new();
        while let Some(d) = stack.pop() {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            blobs.insert(d.digest.clone(), d.size);
            if media::is_index(&d.media_type) || media::is_manifest(&d.media_type) {
                let bytes = read_all(source, &d.digest)?;
                let kids = walk::children(&d, &bytes, choice)?;
                if media::is_manifest(&d.media_type) {
                    let m = Manifest::parse(&bytes)?;
                    let path = |dg: &str| format!("blobs/{}", dg.replace(':', "/"));
                    docker.push(DockerEntry {
                        config: path(&m.config.digest),
                        repo_tags: Some(vec![name.clone()]),
                        layers: m.layers.iter().map(|l| path(&l.digest)).collect(),
                    });
                }
                stack.extend(kids);
            }
        }
    }
    let mut builder = tar::Builder::new(writer);
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(
        &mut builder,
        "oci-layout",
        layout.len() as u64,
        &mut &layout[..],
    )?;
    for (digest, size) in &blobs {
        let path = format!("blobs/{}", digest.replace(':', "/"));
        let mut reader = source.open(digest)?;
        let mut hashing = HashingReader {
            inner: &mut reader,
            hasher: Sha256Digester::new(),
        };
        append(&mut builder, &path, *size as u64, &mut hashing)?;
        let got = hashing.hasher.finish();
        if digest.starts_with("sha256:") && &got != digest {
            return Err(Error::new(
                crated_core::ErrorKind::DataLoss,
                format!("blob {digest} read back as {got}"),
            ));
        }
    }
    let index = Index {
        schema_version: 2,
        media_type: media::OCI_INDEX.into(),
        manifests: images
            .iter()
            .map(|(name, target)| {
                let mut d = JsonDescriptor::from_core(target);
                d.annotations.insert(NAME_ANNOTATION.into(), name.clone());
                if let Some(tag) = name
                    .rsplit_once(':')
                    .map(|(_, t)| t)
                    .filter(|t| !t.contains('/'))
                {
                    d.annotations
                        .insert(REF_NAME_ANNOTATION.into(), tag.to_string());
                }
                d
            })
            .collect(),
        annotations: HashMap::new(),
    };
    let index = serde_json::to_vec(&index).map_err(|e| {
        Error::with_source(crated_core::ErrorKind::Internal, "encoding index.json", e)
    })?;
    append(
        &mut builder,
        "index.json",
        index.len() as u64,
        &mut index.as_slice(),
    )?;
    let docker = serde_json::to_vec(&docker).map_err(|e| {
        Error::with_source(
            crated_core::ErrorKind::Internal,
            "encoding manifest.json",
            e,
        )
    })?;
    append(
        &mut builder,
        "manifest.json",
        docker.len() as u64,
        &mut docker.as_slice(),
    )?;
    builder.finish().map_err(|e| {
        Error::with_source(crated_core::ErrorKind::Internal, "finishing the archive", e)
    })
}

struct HashingReader<'a, R: Read + ?Sized> {
    inner: &'a mut R,
    hasher: Sha256Digester,
}

impl<R: Read + ?Sized> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Mem(HashMap<String, Vec<u8>>);

    impl BlobSink for Mem {
        fn put(
            &mut self,
            expected: Option<&Descriptor>,
            reader: &mut dyn Read,
        ) -> Result<(String, i64)> {
            let mut buf = Vec::new();
            reader.read_to_end(&mut buf).unwrap();
            let digest = crated_core::digest::sha256(&buf);
            if expected.is_some_and(|e| e.digest != digest) {
                return Err(Error::failed_precondition("digest mismatch"));
            }
            let size = buf.len() as i64;
            self.0.insert(digest.clone(), buf);
            Ok((digest, size))
        }
    }

    impl BlobSource for Mem {
        fn open(&self, digest: &str) -> Result<Box<dyn Read + '_>> {
            let b = self
                .0
                .get(digest)
                .ok_or_else(|| Error::not_found(digest.to_string()))?;
            Ok(Box::new(b.as_slice()))
        }
    }

    fn put(m: &mut Mem, bytes: &[u8]) -> Descriptor {
        let (digest, size) = m.put(None, &mut &bytes[..]).unwrap();
        Descriptor {
            digest,
            size,
            ..Default::default()
        }
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(
            normalize_name("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(normalize_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(
            normalize_name("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            normalize_name("quay.io/x/y@sha256:ab"),
            "quay.io/x/y@sha256:ab"
        );
    }

    #[test]
    fn export_then_import_round_trips() {
        let mut store = Mem::default();
        let layer = put(&mut store, b"not really a tar");
        let config = put(
            &mut store,
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let manifest = Manifest {
            schema_version: 2,
            media_type: media::OCI_MANIFEST.into(),
            config: JsonDescriptor {
                media_type: media::OCI_CONFIG.into(),
                ..JsonDescriptor::from_core(&config)
            },
            layers: vec![JsonDescriptor {
                media_type: media::OCI_LAYER.into(),
                ..JsonDescriptor::from_core(&layer)
            }],
            annotations: HashMap::new(),
        };
        let mut target = put(&mut store, &serde_json::to_vec(&manifest).unwrap());
        target.media_type = media::OCI_MANIFEST.into();
        let mut tar = Vec::new();
        export(
            &[("docker.io/library/x:1".into(), target.clone())],
            &store,
            &PlatformChoice::All,
            &mut tar,
        )
        .unwrap();
        let mut fresh = Mem::default();
        let imported = import(&tar[..], &mut fresh, None).unwrap();
        assert_eq!(
            imported,
            vec![Imported {
                name: "docker.io/library/x:1".into(),
                target
            }]
        );
        assert_eq!(fresh.0.len(), 3);
    }

    #[test]
    fn docker_save_archives_become_docker_manifests() {
        let mut tar = tar::Builder::new(Vec::new());
        let files: [(&str, &[u8]); 3] = [
            ("abc.json", br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#),
            ("l1/layer.tar", b"layer bytes"),
            ("manifest.json", br#"[{"Config":"abc.json","RepoTags":["busybox:1"],"Layers":["l1/layer.tar"]}]"#),
        ];
        for (p, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, p, data).unwrap();
        }
        let bytes = tar.into_inner().unwrap();
        let mut sink = Mem::default();
        let imported = import(&bytes[..], &mut sink, None).unwrap();
        assert_eq!(imported[0].name, "docker.io/library/busybox:1");
        assert_eq!(imported[0].target.media_type, media::DOCKER_MANIFEST);
        let m = Manifest::parse(&sink.0[&imported[0].target.digest]).unwrap();
        assert_eq!(m.layers.len(), 1);
    }

    #[test]
    fn an_oversized_index_json_is_refused_unread() {
        let mut h = tar::Header::new_ustar();
        h.set_size(MAX_ARCHIVE_JSON + 1);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path("index.json").unwrap();
        h.set_cksum();
        // Only the header: the entry's data is never read.
        let err = import(&h.as_bytes()[..], &mut Mem::default(), None).unwrap_err();
        assert_eq!(
            err.kind(),
            crated_core::ErrorKind::ResourceExhausted,
            "{err}"
        );
    }

    #[test]
    fn archives_without_an_index_are_refused() {
        let tar = tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert!(import(&tar[..], &mut Mem::default(), None).is_err());
    }
}
