//! Positional reads of a committed blob.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crated_core::Result;
use crated_core::content::ReaderAt;

use crate::fsutil::io_error;

/// A reader of one committed blob. Blobs are immutable, so the size taken at
/// open stays true; reads are positional and may run concurrently.
#[derive(Debug)]
pub(crate) struct BlobReader {
    file: File,
    path: PathBuf,
    size: u64,
}

impl BlobReader {
    /// A reader over the open blob `file` at `path` of `size` bytes.
    pub(crate) fn new(file: File, path: PathBuf, size: u64) -> Self {
        BlobReader { file, path, size }
    }
}

impl ReaderAt for BlobReader {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => {
                    let what = format!("reading {} bytes at offset {offset} from blob", buf.len());
                    return other.map_err(|e| io_error(&what, &self.path, e));
                }
            }
        }
    }

    fn size(&self) -> u64 {
        self.size
    }
}
