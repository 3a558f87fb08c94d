//! cgroup v2 metrics, as containerd's `cgroupsv2.Manager.Stat` reads them.

use std::path::Path;

use crated_api::ttrpc::cgroups_v2::metrics::{
    CPUStat, HugeTlbStat, IOEntry, IOStat, MemoryEvents, MemoryStat, Metrics, PidsStat,
};

use super::{huge_page_sizes, read_kv, read_u64};
use crate::error::{Error, Result};

/// Reads the unified directory's statistics.
pub fn metrics(d: &Path) -> Result<Metrics> {
    if !d.exists() {
        return Err(Error::not_found("cgroup does not exist"));
    }
    let mut m = Metrics::new();
    let mut p = PidsStat::new();
    p.current = read_u64(&d.join("pids.current")).unwrap_or(0);
    p.limit = read_u64(&d.join("pids.max")).unwrap_or(0);
    m.pids = Some(p).into();

    let mut c = CPUStat::new();
    for (k, v) in read_kv(&d.join("cpu.stat")) {
        match k.as_str() {
            "usage_usec" => c.usage_usec = v,
            "user_usec" => c.user_usec = v,
            "system_usec" => c.system_usec = v,
            "nr_periods" => c.nr_periods = v,
            "nr_throttled" => c.nr_throttled = v,
            "throttled_usec" => c.throttled_usec = v,
            "nr_bursts" => c.nr_bursts = v,
            "burst_usec" => c.burst_usec = v,
            _ => {}
        }
    }
    m.cpu = Some(c).into();
    m.memory = Some(memory(d)).into();

    let mut e = MemoryEvents::new();
    for (k, v) in read_kv(&d.join("memory.events")) {
        match k.as_str() {
            "low" => e.low = v,
            "high" => e.high = v,
            "max" => e.max = v,
            "oom" => e.oom = v,
            "oom_kill" => e.oom_kill = v,
            "oom_group_kill" => e.oom_group_kill = v,
            _ => {}
        }
    }
    m.memory_events = Some(e).into();

    let mut io = IOStat::new();
    if let Ok(text) = std::fs::read_to_string(d.join("io.stat")) {
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let mut entry = IOEntry::new();
            entry.major = major.parse().unwrap_or(0);
            entry.minor = minor.parse().unwrap_or(0);
            for kv in fields {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let v = v.parse().unwrap_or(0);
                match k {
                    "rbytes" => entry.rbytes = v,
                    "wbytes" => entry.wbytes = v,
                    "rios" => entry.rios = v,
                    "wios" => entry.wios = v,
                    _ => {}
                }
            }
            io.usage.push(entry);
        }
    }
    m.io = Some(io).into();

    for size in huge_page_sizes() {
        if !d.join(format!("hugetlb.{size}.current")).exists() {
            continue;
        }
        let mut h = HugeTlbStat::new();
        h.current = read_u64(&d.join(format!("hugetlb.{size}.current"))).unwrap_or(0);
        h.max = read_u64(&d.join(format!("hugetlb.{size}.max"))).unwrap_or(0);
        h.pagesize = size;
        m.hugetlb.push(h);
    }
    Ok(m)
}

fn memory(d: &Path) -> MemoryStat {
    let mut s = MemoryStat::new();
    for (k, v) in read_kv(&d.join("memory.stat")) {
        let field = match k.as_str() {
            "anon" => &mut s.anon,
            "file" => &mut s.file,
            "kernel_stack" => &mut s.kernel_stack,
            "slab" => &mut s.slab,
            "sock" => &mut s.sock,
            "shmem" => &mut s.shmem,
            "file_mapped" => &mut s.file_mapped,
            "file_dirty" => &mut s.file_dirty,
            "file_writeback" => &mut s.file_writeback,
            "anon_thp" => &mut s.anon_thp,
            "inactive_anon" => &mut s.inactive_anon,
            "active_anon" => &mut s.active_anon,
            "inactive_file" => &mut s.inactive_file,
            "active_file" => &mut s.active_file,
            "unevictable" => &mut s.unevictable,
            "slab_reclaimable" => &mut s.slab_reclaimable,
            "slab_unreclaimable" => &mut s.slab_unreclaimable,
            "pgfault" => &mut s.pgfault,
            "pgmajfault" => &mut s.pgmajfault,
            "workingset_refault" | "workingset_refault_anon" => &mut s.workingset_refault,
            "workingset_activate" | "workingset_activate_anon" => &mut s.workingset_activate,
            "workingset_nodereclaim" => &mut s.workingset_nodereclaim,
            "pgrefill" => &mut s.pgrefill,
            "pgscan" => &mut s.pgscan,
            "pgsteal" => &mut s.pgsteal,
            "pgactivate" => &mut s.pgactivate,
            "pgdeactivate" => &mut s.pgdeactivate,
            "pglazyfree" => &mut s.pglazyfree,
            "pglazyfreed" => &mut s.pglazyfreed,
            "thp_fault_alloc" => &mut s.thp_fault_alloc,
            "thp_collapse_alloc" => &mut s.thp_collapse_alloc,
            _ => continue,
        };
        *field = v;
    }
    let n = |name: &str| read_u64(&d.join(name)).unwrap_or(0);
    s.usage = n("memory.current");
    s.usage_limit = n("memory.max");
    s.swap_usage = n("memory.swap.current");
    s.swap_limit = n("memory.swap.max");
    s.max_usage = n("memory.peak");
    s.swap_max_usage = n("memory.swap.peak");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_unified_directory() {
        let d = tempfile::tempdir().unwrap();
        for (f, v) in [
            ("pids.current", "2"),
            ("pids.max", "100"),
            ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n"),
            ("memory.stat", "anon 5\nfile 6\npgfault 7\n"),
            ("memory.current", "1000"),
            ("memory.max", "max"),
            ("memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n"),
            (
                "io.stat",
                "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n",
            ),
        ] {
            std::fs::write(d.path().join(f), v).unwrap();
        }
        let m = metrics(d.path()).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (2, 100));
        assert_eq!(m.cpu.usage_usec, 10);
        assert_eq!(
            (m.memory.anon, m.memory.usage, m.memory.usage_limit),
            (5, 1000, 0)
        );
        assert_eq!(m.memory_events.oom_kill, 1);
        assert_eq!(m.io.usage[0].wios, 4);
        assert!(metrics(&d.path().join("gone")).is_err());
    }
}
