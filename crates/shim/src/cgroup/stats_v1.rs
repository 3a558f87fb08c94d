//! cgroup v1 metrics, read the way containerd's `cgroups.Stat` with
//! `IgnoreNotExist` reads them: a missing file or controller is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crated_api::ttrpc::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryOomControl,
    MemoryStat, Metrics, PidsStat, Throttle,
};

use super::{device_name, huge_page_sizes, read_kv, read_u64};
use crate::error::{Error, Result};

/// Nanoseconds per USER_HZ tick (100 on Linux), as containerd converts.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

/// Reads every controller's statistics.
pub fn metrics(dirs: &HashMap<String, PathBuf>) -> Result<Metrics> {
    let dir = |c: &str| dirs.get(c).filter(|d| d.exists());
    if !dirs.values().any(|d| d.exists()) {
        return Err(Error::not_found("cgroup does not exist"));
    }
    let mut m = Metrics::new();
    if let Some(d) = dir("pids") {
        let mut p = PidsStat::new();
        p.current = read_u64(&d.join("pids.current")).unwrap_or(0);
        p.limit = read_u64(&d.join("pids.max")).unwrap_or(0);
        m.pids = Some(p).into();
    }
    if dir("cpuacct").is_some() || dir("cpu").is_some() {
        m.cpu = Some(cpu(dir("cpuacct"), dir("cpu"))).into();
    }
    if let Some(d) = dir("memory") {
        m.memory = Some(memory(d)).into();
        let mut oom = MemoryOomControl::new();
        for (k, v) in read_kv(&d.join("memory.oom_control")) {
            match k.as_str() {
                "oom_kill_disable" => oom.oom_kill_disable = v,
                "under_oom" => oom.under_oom = v,
                "oom_kill" => oom.oom_kill = v,
                _ => {}
            }
        }
        m.memory_oom_control = Some(oom).into();
    }
    if let Some(d) = dir("blkio") {
        m.blkio = Some(blkio(d)).into();
    }
    if let Some(d) = dir("hugetlb") {
        for size in huge_page_sizes() {
            let f = |name: &str| read_u64(&d.join(format!("hugetlb.{size}.{name}"))).unwrap_or(0);
            let mut h = HugetlbStat::new();
            h.usage = f("usage_in_bytes");
            h.max = f("max_usage_in_bytes");
            h.failcnt = f("failcnt");
            h.pagesize = size;
            m.hugetlb.push(h);
        }
    }
    Ok(m)
}

fn cpu(acct: Option<&PathBuf>, cpu: Option<&PathBuf>) -> CPUStat {
    let mut s = CPUStat::new();
    let mut usage = CPUUsage::new();
    if let Some(d) = acct {
        usage.total = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
        usage.per_cpu = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in read_kv(&d.join("cpuacct.stat")) {
            match k.as_str() {
                "user" => usage.user = v * NANOS_PER_TICK,
                "system" => usage.kernel = v * NANOS_PER_TICK,
                _ => {}
            }
        }
    }
    s.usage = Some(usage).into();
    let mut t = Throttle::new();
    if let Some(d) = cpu {
        for (k, v) in read_kv(&d.join("cpu.stat")) {
            match k.as_str() {
                "nr_periods" => t.periods = v,
                "nr_throttled" => t.throttled_periods = v,
                "throttled_time" => t.throttled_time = v,
                _ => {}
            }
        }
    }
    s.throttling = Some(t).into();
    s
}

fn memory(d: &Path) -> MemoryStat {
    let mut s = MemoryStat::new();
    for (k, v) in read_kv(&d.join("memory.stat")) {
        let field = match k.as_str() {
            "cache" => &mut s.cache,
            "rss" => &mut s.rss,
            "rss_huge" => &mut s.rss_huge,
            "mapped_file" => &mut s.mapped_file,
            "dirty" => &mut s.dirty,
            "writeback" => &mut s.writeback,
            "pgpgin" => &mut s.pg_pg_in,
            "pgpgout" => &mut s.pg_pg_out,
            "pgfault" => &mut s.pg_fault,
            "pgmajfault" => &mut s.pg_maj_fault,
            "inactive_anon" => &mut s.inactive_anon,
            "active_anon" => &mut s.active_anon,
            "inactive_file" => &mut s.inactive_file,
            "active_file" => &mut s.active_file,
            "unevictable" => &mut s.unevictable,
            "hierarchical_memory_limit" => &mut s.hierarchical_memory_limit,
            "hierarchical_memsw_limit" => &mut s.hierarchical_swap_limit,
            "total_cache" => &mut s.total_cache,
            "total_rss" => &mut s.total_rss,
            "total_rss_huge" => &mut s.total_rss_huge,
            "total_mapped_file" => &mut s.total_mapped_file,
            "total_dirty" => &mut s.total_dirty,
            "total_writeback" => &mut s.total_writeback,
            "total_pgpgin" => &mut s.total_pg_pg_in,
            "total_pgpgout" => &mut s.total_pg_pg_out,
            "total_pgfault" => &mut s.total_pg_fault,
            "total_pgmajfault" => &mut s.total_pg_maj_fault,
            "total_inactive_anon" => &mut s.total_inactive_anon,
            "total_active_anon" => &mut s.total_active_anon,
            "total_inactive_file" => &mut s.total_inactive_file,
            "total_active_file" => &mut s.total_active_file,
            "total_unevictable" => &mut s.total_unevictable,
            _ => continue,
        };
        *field = v;
    }
    let entry = |prefix: &str| {
        let f = |name: &str| read_u64(&d.join(format!("{prefix}.{name}"))).unwrap_or(0);
        let mut e = MemoryEntry::new();
        e.usage = f("usage_in_bytes");
        e.limit = f("limit_in_bytes");
        e.max = f("max_usage_in_bytes");
        e.failcnt = f("failcnt");
        Some(e).into()
    };
    s.usage = entry("memory");
    s.swap = entry("memory.memsw");
    s.kernel = entry("memory.kmem");
    s.kernel_tcp = entry("memory.kmem.tcp");
    s
}

fn blkio(d: &Path) -> BlkIOStat {
    let mut s = BlkIOStat::new();
    let mut devices = HashMap::new();
    let mut read = |name: &str| -> Vec<BlkIOEntry> {
        let Ok(text) = std::fs::read_to_string(d.join(name)) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (dev, op, value) = match fields[..] {
                    [dev, op, value] => (dev, op, value),
                    [dev, value] => (dev, "", value),
                    _ => return None,
                };
                let (major, minor) = dev.split_once(':')?;
                let (major, minor) = (major.parse().ok()?, minor.parse().ok()?);
                let mut e = BlkIOEntry::new();
                e.device = devices
                    .entry((major, minor))
                    .or_insert_with(|| device_name(major, minor))
                    .clone();
                e.major = major;
                e.minor = minor;
                e.op = op.to_string();
                e.value = value.parse().ok()?;
                Some(e)
            })
            .collect()
    };
    s.io_service_bytes_recursive = read("blkio.io_service_bytes_recursive");
    s.io_serviced_recursive = read("blkio.io_serviced_recursive");
    s.io_queued_recursive = read("blkio.io_queued_recursive");
    s.io_service_time_recursive = read("blkio.io_service_time_recursive");
    s.io_wait_time_recursive = read("blkio.io_wait_time_recursive");
    s.io_merged_recursive = read("blkio.io_merged_recursive");
    s.io_time_recursive = read("blkio.time_recursive");
    s.sectors_recursive = read("blkio.sectors_recursive");
    // Without the CFQ scheduler only the throttle files count I/O.
    if s.io_service_bytes_recursive.is_empty() {
        s.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes_recursive");
        s.io_serviced_recursive = read("blkio.throttle.io_serviced_recursive");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let mut dirs = HashMap::new();
        for (c, files) in [
            ("pids", vec![("pids.current", "3"), ("pids.max", "max")]),
            (
                "cpuacct",
                vec![
                    ("cpuacct.usage", "5000"),
                    ("cpuacct.usage_percpu", "1 2 "),
                    ("cpuacct.stat", "user 2\nsystem 3\n"),
                ],
            ),
            (
                "cpu",
                vec![(
                    "cpu.stat",
                    "nr_periods 4\nnr_throttled 1\nthrottled_time 9\n",
                )],
            ),
            (
                "memory",
                vec![
                    ("memory.stat", "cache 10\nrss 20\ntotal_rss 21\n"),
                    ("memory.usage_in_bytes", "100"),
                    (
                        "memory.oom_control",
                        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
                    ),
                ],
            ),
            (
                "blkio",
                vec![(
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
                )],
            ),
        ] {
            let d = root.path().join(c);
            std::fs::create_dir(&d).unwrap();
            for (f, v) in files {
                std::fs::write(d.join(f), v).unwrap();
            }
            dirs.insert(c.to_string(), d);
        }
        let m = metrics(&dirs).unwrap();
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.pids.limit, 0);
        assert_eq!(m.cpu.usage.total, 5000);
        assert_eq!(m.cpu.usage.per_cpu, vec![1, 2]);
        assert_eq!(m.cpu.usage.user, 2 * NANOS_PER_TICK);
        assert_eq!(m.cpu.throttling.throttled_time, 9);
        assert_eq!(m.memory.cache, 10);
        assert_eq!(m.memory.total_rss, 21);
        assert_eq!(m.memory.usage.usage, 100);
        assert_eq!(m.memory_oom_control.oom_kill, 2);
        assert_eq!(m.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].value, 512);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].op, "Read");
    }

    #[test]
    fn a_removed_cgroup_is_not_found() {
        let dirs = HashMap::from([("memory".to_string(), PathBuf::from("/nonexistent/x"))]);
        assert_eq!(
            metrics(&dirs).unwrap_err().kind(),
            crate::error::ErrorKind::NotFound
        );
    }
}
