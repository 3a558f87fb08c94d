//! Unpack throughput: builds a layer of ~20k small files plus a few big
//! ones, then times `apply` on it (plain tar, gzip, zstd) against GNU tar
//! extracting the same bytes into the same filesystem.
//!
//! ```text
//! cargo run --release -p crated-archive --example apply_bench -- [DIR] [ROUNDS]
//! ```
//!
//! DIR (default `/dev/shm`) is where the layer and the extractions go:
//! pass a directory on disk to measure that filesystem instead of tmpfs.
//! A third argument runs only the case with that label (`"apply tar"`).
//! `BENCH_KEEP=1` keeps the generated layers in DIR for the next run.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crated_archive::{ApplyOptions, Compression, Compressor, apply, decompress};

const SMALL_FILES: usize = 20_000;
const FILES_PER_DIR: usize = 50;
const BIG_FILES: usize = 4;
const BIG_SIZE: usize = 32 << 20;

type Res<T> = Result<T, Box<dyn Error>>;

/// A small deterministic generator of mildly compressible bytes.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        const WORDS: [&[u8]; 8] = [
            b"layer ",
            b"content ",
            b"crated ",
            b"0x1f8b ",
            b"lib",
            b"\n",
            b"usr/share/",
            b"zz",
        ];
        let mut out = Vec::with_capacity(n + 16);
        while out.len() < n {
            let r = self.next();
            if r.is_multiple_of(3) {
                out.extend_from_slice(&r.to_le_bytes());
            } else {
                out.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()]);
            }
        }
        out.truncate(n);
        out
    }
}

fn build_layer() -> Res<Vec<u8>> {
    let mut rng = Gen(0x9E37_79B9_7F4A_7C15);
    let mut b = tar::Builder::new(Vec::new());
    let header = |path: &str, size: usize, kind: tar::EntryType, mode: u32| -> Res<tar::Header> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size as u64);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        Ok(h)
    };
    let dirs = SMALL_FILES / FILES_PER_DIR;
    for d in 0..dirs {
        let dir = format!("usr/share/pkg{:03}/sub{}", d / 10, d % 10);
        if d % 10 == 0 {
            let parent = format!("usr/share/pkg{:03}/", d / 10);
            b.append(
                &header(&parent, 0, tar::EntryType::Directory, 0o755)?,
                &[][..],
            )?;
        }
        b.append(
            &header(&format!("{dir}/"), 0, tar::EntryType::Directory, 0o755)?,
            &[][..],
        )?;
        for f in 0..FILES_PER_DIR {
            let size = 100 + (rng.next() % 8000) as usize;
            let data = rng.bytes(size);
            let h = header(
                &format!("{dir}/file{f:02}.txt"),
                size,
                tar::EntryType::Regular,
                0o644,
            )?;
            b.append(&h, data.as_slice())?;
        }
    }
    for i in 0..BIG_FILES {
        let data = rng.bytes(BIG_SIZE);
        let h = header(
            &format!("opt/big{i}.bin"),
            BIG_SIZE,
            tar::EntryType::Regular,
            0o755,
        )?;
        b.append(&h, data.as_slice())?;
    }
    Ok(b.into_inner()?)
}

fn compress(tar: &[u8], c: Compression) -> Res<Vec<u8>> {
    let mut w = Compressor::new(Vec::new(), c)?;
    w.write_all(tar)?;
    Ok(w.finish()?)
}

fn fresh(dir: &Path, name: &str) -> Res<PathBuf> {
    let p = dir.join(name);
    if p.exists() {
        std::fs::remove_dir_all(&p)?;
    }
    std::fs::create_dir(&p)?;
    Ok(p)
}

/// Wall time and CPU time (all threads or the child process) of one run.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
struct Run {
    wall: Duration,
    cpu: Duration,
}

fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn report(what: &str, runs: &mut [Run], bytes: usize, files: usize) {
    runs.sort_by_key(|r| r.wall);
    let best = runs[0];
    let median = runs[runs.len() / 2];
    let s = best.wall.as_secs_f64();
    println!(
        "{what:<20} best {:>7.1} ms (median {:>7.1}, cpu {:>7.1} ms) {:>6.0} MB/s {:>7.0} files/s",
        s * 1e3,
        median.wall.as_secs_f64() * 1e3,
        best.cpu.as_secs_f64() * 1e3,
        bytes as f64 / s / 1e6,
        files as f64 / s
    );
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/dev/shm".into()));
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    // Optional: only the case with this label.
    let only = args.next().unwrap_or_default();
    let work = base.join("crated-apply-bench");
    std::fs::create_dir_all(&work)?;

    // BENCH_KEEP=1 keeps the generated layers for the next run to reuse.
    let keep = std::env::var_os("BENCH_KEEP").is_some();
    let files = SMALL_FILES + BIG_FILES;
    let names = ["layer.tar", "layer.tar.gz", "layer.tar.zst"];
    let (tar, gz, zst) = if keep && work.join(names[2]).exists() {
        let read = |n: &str| std::fs::read(work.join(n));
        (read(names[0])?, read(names[1])?, read(names[2])?)
    } else {
        let tar = build_layer()?;
        let gz = compress(&tar, Compression::Gzip)?;
        let zst = compress(&tar, Compression::Zstd)?;
        for (name, data) in names.iter().zip([&tar, &gz, &zst]) {
            std::fs::write(work.join(name), data)?;
        }
        (tar, gz, zst)
    };
    println!(
        "layer: {files} files, {:.1} MB uncompressed, gzip {:.1} MB, zstd {:.1} MB; {rounds} rounds in {}",
        tar.len() as f64 / 1e6,
        gz.len() as f64 / 1e6,
        zst.len() as f64 / 1e6,
        work.display()
    );

    for (label, name) in [
        ("apply tar", "layer.tar"),
        ("apply tar+gzip", "layer.tar.gz"),
        ("apply tar+zstd", "layer.tar.zst"),
    ] {
        if !only.is_empty() && label != only {
            continue;
        }
        let mut times: Vec<Run> = Vec::new();
        for _ in 0..rounds {
            let dest = fresh(&work, "out")?;
            let file = std::fs::File::open(work.join(name))?;
            let (start, cpu) = (Instant::now(), cpu_now());
            let (_, reader) = decompress(file)?;
            let stats = apply(reader, &dest, ApplyOptions::default())?;
            times.push(Run {
                wall: start.elapsed(),
                cpu: cpu_now() - cpu,
            });
            assert_eq!(stats.files as usize, files);
        }
        report(label, &mut times, tar.len(), files);
    }

    for (label, flags, name) in [
        ("GNU tar -x", "-xf", "layer.tar"),
        ("GNU tar -xz", "-xzf", "layer.tar.gz"),
        ("GNU tar --zstd -x", "--zstd -xf", "layer.tar.zst"),
    ] {
        if !only.is_empty() && label != only {
            continue;
        }
        let mut times: Vec<Run> = Vec::new();
        for _ in 0..rounds {
            let dest = fresh(&work, "out")?;
            // bash's `time` reports the child's CPU time.
            let script = format!(
                "TIMEFORMAT='%3U %3S'; time tar {flags} '{}' -C '{}'",
                work.join(name).display(),
                dest.display()
            );
            let start = Instant::now();
            let out = Command::new("bash").arg("-c").arg(&script).output();
            let wall = start.elapsed();
            let Ok(out) = out else { break };
            if !out.status.success() {
                break;
            }
            let text = String::from_utf8_lossy(&out.stderr);
            let cpu: f64 = text
                .lines()
                .last()
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse::<f64>().ok())
                .sum();
            times.push(Run {
                wall,
                cpu: Duration::from_secs_f64(cpu),
            });
        }
        if times.is_empty() {
            println!("{label:<28} (not available)");
        } else {
            report(label, &mut times, tar.len(), files);
        }
    }
    if keep {
        std::fs::remove_dir_all(work.join("out"))?;
    } else {
        std::fs::remove_dir_all(&work)?;
    }
    Ok(())
}
