//! Layer compression: detection by magic bytes and by media type, streaming
//! decompression (gzip through `flate2`'s zlib-rs backend, zstd through
//! libzstd) and compression for writing layers.

use std::fmt;
use std::io::{self, BufReader, Cursor, Read, Write};

use crated_core::{Error, Result};

use crate::error::IoContext;

/// Docker schema 2 media type of a gzip-compressed layer.
pub use crated_core::media::DOCKER_LAYER_GZIP as MEDIA_TYPE_DOCKER_LAYER_GZIP;
/// OCI media type of an uncompressed layer.
pub use crated_core::media::OCI_LAYER as MEDIA_TYPE_LAYER;
/// OCI media type of a gzip-compressed layer.
pub use crated_core::media::OCI_LAYER_GZIP as MEDIA_TYPE_LAYER_GZIP;
/// OCI media type of a zstd-compressed layer.
pub use crated_core::media::OCI_LAYER_ZSTD as MEDIA_TYPE_LAYER_ZSTD;
use crated_core::media::{
    DOCKER_FOREIGN_LAYER as DOCKER_LAYER_FOREIGN,
    DOCKER_FOREIGN_LAYER_GZIP as DOCKER_LAYER_FOREIGN_GZIP, DOCKER_LAYER, DOCKER_LAYER_GZIP,
    OCI_LAYER, OCI_LAYER_NONDISTRIBUTABLE as OCI_LAYER_NONDIST,
};

/// Buffer between the compressed source and the decoder.
const INPUT_BUFFER: usize = 256 * 1024;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const ZSTD_SKIPPABLE_START: u32 = 0x184D_2A50;
const ZSTD_SKIPPABLE_MASK: u32 = 0xFFFF_FFF0;

/// How a layer stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// A plain tar stream.
    #[default]
    Uncompressed,
    /// gzip (RFC 1952), possibly several concatenated members.
    Gzip,
    /// Zstandard frames (skippable frames included).
    Zstd,
}

impl Compression {
    /// Detects the compression from the first bytes of a stream (ten are
    /// enough), the way containerd's `compression.DetectCompression` does.
    pub fn detect(prefix: &[u8]) -> Compression {
        if prefix.starts_with(&GZIP_MAGIC) {
            return Compression::Gzip;
        }
        if prefix.starts_with(&ZSTD_MAGIC) {
            return Compression::Zstd;
        }
        if prefix.len() >= 8 {
            let magic = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            if magic & ZSTD_SKIPPABLE_MASK == ZSTD_SKIPPABLE_START {
                return Compression::Zstd;
            }
        }
        Compression::Uncompressed
    }

    /// The compression a layer media type declares, following containerd's
    /// `images.DiffCompression`: OCI layer types (distributable or not) with
    /// no suffix, `+gzip` or `+zstd`, and Docker's `rootfs.diff.tar.gzip`,
    /// `rootfs.diff.tar` and their `foreign` variants (Docker's plain `tar`
    /// types are often gzip in fact: readers detect by magic anyway). Any
    /// other media type, or a suffix such as `+encrypted`, is
    /// `NotImplemented`.
    pub fn from_media_type(media_type: &str) -> Result<Compression> {
        let unsupported =
            || Error::not_implemented(format!("unsupported layer media type {media_type:?}"));
        let mut parts = media_type.split('+');
        let base = parts.next().unwrap_or_default();
        let ext: Vec<&str> = parts.collect();
        match base {
            OCI_LAYER | OCI_LAYER_NONDIST => match ext.as_slice() {
                [] => Ok(Compression::Uncompressed),
                ["gzip"] => Ok(Compression::Gzip),
                ["zstd"] => Ok(Compression::Zstd),
                _ => Err(unsupported()),
            },
            DOCKER_LAYER | DOCKER_LAYER_FOREIGN if ext.is_empty() => Ok(Compression::Uncompressed),
            DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN_GZIP if ext.is_empty() => {
                Ok(Compression::Gzip)
            }
            _ => Err(unsupported()),
        }
    }

    /// The OCI layer media type for this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::Uncompressed => MEDIA_TYPE_LAYER,
            Compression::Gzip => MEDIA_TYPE_LAYER_GZIP,
            Compression::Zstd => MEDIA_TYPE_LAYER_ZSTD,
        }
    }

    /// Lower-case name: `uncompressed`, `gzip` or `zstd`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Uncompressed => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boxed decompressed stream.
pub type DecompressReader<'a> = Box<dyn Read + Send + 'a>;

/// Detects how `reader` is compressed from its first bytes and returns the
/// compression with a reader of the decompressed bytes. An empty stream is
/// an empty uncompressed stream, as in containerd.
pub fn decompress<'a, R: Read + Send + 'a>(
    mut reader: R,
) -> Result<(Compression, DecompressReader<'a>)> {
    let mut prefix = [0u8; 10];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(|| "reading layer stream"),
        }
    }
    let compression = Compression::detect(&prefix[..filled]);
    let whole = Cursor::new(prefix).take(filled as u64).chain(reader);
    Ok((compression, decoder(compression, whole)?))
}

/// Checks `media_type` with [`Compression::from_media_type`] (unknown
/// types are `NotImplemented`), then decompresses by magic bytes like
/// containerd's stream processors, so a mislabelled layer still reads.
pub fn decompress_media_type<'a, R: Read + Send + 'a>(
    media_type: &str,
    reader: R,
) -> Result<(Compression, DecompressReader<'a>)> {
    Compression::from_media_type(media_type)?;
    decompress(reader)
}

/// A decoder of `compression` over `reader`.
pub fn decoder<'a, R: Read + Send + 'a>(
    compression: Compression,
    reader: R,
) -> Result<DecompressReader<'a>> {
    let input = BufReader::with_capacity(INPUT_BUFFER, reader);
    Ok(match compression {
        Compression::Uncompressed => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).ctx(|| "starting zstd decoder")?,
        ),
    })
}

/// A writer that compresses into `W`. Call [`Compressor::finish`] to write
/// the trailer and get `W` back; dropping it loses the end of the stream.
pub struct Compressor<W: Write> {
    inner: Encoder<W>,
}

enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Compresses with the default level (gzip 6, zstd 3).
    pub fn new(writer: W, compression: Compression) -> Result<Self> {
        Self::with_level(writer, compression, None)
    }

    /// Compresses with `level` (gzip 0–9, zstd 1–22; `None` for the
    /// default).
    pub fn with_level(writer: W, compression: Compression, level: Option<i32>) -> Result<Self> {
        let inner = match compression {
            Compression::Uncompressed => Encoder::Plain(writer),
            Compression::Gzip => {
                let level = match level {
                    Some(l) => flate2::Compression::new(l.clamp(0, 9).unsigned_abs()),
                    None => flate2::Compression::default(),
                };
                Encoder::Gzip(flate2::write::GzEncoder::new(writer, level))
            }
            Compression::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(writer, level.unwrap_or(3))
                    .ctx(|| "starting zstd encoder")?,
            ),
        };
        Ok(Compressor { inner })
    }

    /// Writes the end of the compressed stream and returns the writer.
    pub fn finish(self) -> Result<W> {
        match self.inner {
            Encoder::Plain(mut w) => {
                w.flush().ctx(|| "flushing layer")?;
                Ok(w)
            }
            Encoder::Gzip(e) => e.finish().ctx(|| "finishing gzip stream"),
            Encoder::Zstd(e) => e.finish().ctx(|| "finishing zstd stream"),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Encoder::Plain(w) => w.write_all(buf),
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crated_core::ErrorKind;

    fn roundtrip(c: Compression) {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut w = Compressor::new(Vec::new(), c).unwrap();
        w.write_all(&data).unwrap();
        let packed = w.finish().unwrap();
        if c != Compression::Uncompressed {
            assert!(packed.len() < data.len() / 2);
        }
        let (found, mut r) = decompress(Cursor::new(packed)).unwrap();
        assert_eq!(found, c);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn roundtrips() {
        roundtrip(Compression::Uncompressed);
        roundtrip(Compression::Gzip);
        roundtrip(Compression::Zstd);
    }

    #[test]
    fn detects_magic() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 0x08, 0]),
            Compression::Gzip
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        let skippable = [0x5a, 0x2a, 0x4d, 0x18, 0, 0, 0, 0];
        assert_eq!(Compression::detect(&skippable), Compression::Zstd);
        assert_eq!(Compression::detect(b"etc/"), Compression::Uncompressed);
        assert_eq!(Compression::detect(&[]), Compression::Uncompressed);
    }

    #[test]
    fn empty_stream_is_uncompressed() {
        let (c, mut r) = decompress(io::empty()).unwrap();
        assert_eq!(c, Compression::Uncompressed);
        assert_eq!(r.read(&mut [0u8; 4]).unwrap(), 0);
    }

    #[test]
    fn concatenated_gzip_members() {
        let mut all = Vec::new();
        for part in [&b"hello "[..], b"world"] {
            let mut w = Compressor::new(Vec::new(), Compression::Gzip).unwrap();
            w.write_all(part).unwrap();
            all.extend(w.finish().unwrap());
        }
        let (_, mut r) = decompress(Cursor::new(all)).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
    }

    #[test]
    fn media_types() {
        use Compression::*;
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Uncompressed),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Gzip),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Zstd),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar",
                Uncompressed,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Gzip,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                Zstd,
            ),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", Gzip),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Gzip,
            ),
            ("application/vnd.docker.image.rootfs.diff.tar", Uncompressed),
        ];
        for (mt, want) in cases {
            assert_eq!(Compression::from_media_type(mt).unwrap(), want, "{mt}");
        }
        for mt in [
            "application/vnd.oci.image.layer.v1.tar+encrypted",
            "application/vnd.oci.image.manifest.v1+json",
            "text/plain",
            "",
        ] {
            let err = Compression::from_media_type(mt).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotImplemented);
            assert!(err.message().contains(mt), "{err}");
        }
        for c in [Uncompressed, Gzip, Zstd] {
            assert_eq!(
                Compression::from_media_type(c.layer_media_type()).unwrap(),
                c
            );
        }
    }

    #[test]
    fn media_type_decompression_detects_actual_format() {
        let mut w = Compressor::new(Vec::new(), Compression::Zstd).unwrap();
        w.write_all(b"tar bytes").unwrap();
        let packed = w.finish().unwrap();
        let (c, mut r) =
            decompress_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP, Cursor::new(packed)).unwrap();
        assert_eq!(c, Compression::Zstd);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "tar bytes");
        let err = decompress_media_type("application/x-foo", io::empty())
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::NotImplemented);
    }
}
