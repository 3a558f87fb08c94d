//! One namespace's view of the content store as the core content traits
//! (`Provider`, `Manager`, `Ingester`, `IngestManager`): what code written
//! against `crated_core::content` (the image pipeline, the conformance
//! suite) gets from the metadata layer.

use crated_core::Result;
use crated_core::content::{
    Info, IngestManager, Ingester, Manager, Provider, ReaderAt, Status, Writer, WriterOptions,
};

use crate::content::{NamespacedContent, NamespacedWriter};

/// The content of namespace `namespace`, optionally adding every write and
/// committed blob to a lease.
#[derive(Clone)]
pub struct NamespacedContentStore {
    content: NamespacedContent,
    namespace: String,
    lease: Option<String>,
}

impl NamespacedContentStore {
    /// The view of `content` in `namespace`.
    pub(crate) fn new(content: NamespacedContent, namespace: &str) -> Self {
        NamespacedContentStore {
            content,
            namespace: namespace.to_string(),
            lease: None,
        }
    }

    /// The same view, adding what it writes to `lease` (none for no lease).
    pub fn with_lease(mut self, lease: Option<&str>) -> Self {
        self.lease = lease.map(str::to_string);
        self
    }

    /// The namespace this view works in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl Provider for NamespacedContentStore {
    fn reader_at(&self, digest: &str) -> Result<Box<dyn ReaderAt>> {
        self.content.reader_at(&self.namespace, digest)
    }
}

impl Manager for NamespacedContentStore {
    fn info(&self, digest: &str) -> Result<Info> {
        self.content.info(&self.namespace, digest)
    }

    fn list(&self) -> Result<Vec<Info>> {
        self.content.list(&self.namespace)
    }

    fn delete(&self, digest: &str) -> Result<()> {
        self.content.delete(&self.namespace, digest)
    }

    fn update(&self, info: Info, fieldpaths: &[String]) -> Result<Info> {
        self.content.update(&self.namespace, info, fieldpaths)
    }
}

impl Ingester for NamespacedContentStore {
    fn writer(&self, options: WriterOptions) -> Result<Box<dyn Writer>> {
        let w = self.content.writer(
            &self.namespace,
            &options.reference,
            options.total,
            &options.expected,
            self.lease.as_deref(),
        )?;
        Ok(Box::new(w))
    }
}

impl IngestManager for NamespacedContentStore {
    fn status(&self, reference: &str) -> Result<Status> {
        self.content.status(&self.namespace, reference)
    }

    fn list_statuses(&self) -> Result<Vec<Status>> {
        self.content.list_statuses(&self.namespace)
    }

    fn abort(&self, reference: &str) -> Result<()> {
        self.content.abort(&self.namespace, reference)
    }
}

/// The namespaced writer through the core trait: a commit records the blob
/// without labels (label it with `Manager::update`).
impl Writer for NamespacedWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        NamespacedWriter::write(self, data)
    }

    fn digest(&self) -> String {
        NamespacedWriter::digest(self)
    }

    fn status(&self) -> Result<Status> {
        NamespacedWriter::status(self)
    }

    fn truncate(&mut self, size: i64) -> Result<()> {
        NamespacedWriter::truncate(self, size)
    }

    fn commit(&mut self, size: i64, expected: &str) -> Result<String> {
        NamespacedWriter::commit(self, size, expected, Default::default())
    }
}
