//! Task metrics from cgroup v1 statistics (`io.containerd.cgroups.v1.Metrics`),
//! under the names, types and labels containerd's cgroups monitor gives them.

use crated_api::ttrpc::cgroups::metrics::{BlkIOEntry, MemoryEntry, Metrics};

use super::families::Families;

type Get = fn(&Metrics) -> Option<u64>;

/// Reads field `$f` of the memory statistics.
macro_rules! mem {
    ($f:ident) => {
        |m: &Metrics| m.memory.as_ref().map(|x| x.$f)
    };
}

/// Reads field `$f` of the memory entry `$e` (usage, swap, kernel, kernel TCP).
macro_rules! entry {
    ($e:ident, $f:ident) => {
        |m: &Metrics| m.memory.as_ref()?.$e.as_ref().map(|x: &MemoryEntry| x.$f)
    };
}

/// One sample per task: name, help, value.
const SCALARS: &[(&str, &str, Get)] = &[
    (
        "container_pids_limit",
        "Most pids the cgroup allows.",
        |m| m.pids.as_ref().map(|p| p.limit),
    ),
    ("container_pids_current", "Pids in the cgroup now.", |m| {
        m.pids.as_ref().map(|p| p.current)
    }),
    ("container_cpu_total_nanoseconds", "CPU time used.", |m| {
        m.cpu.as_ref()?.usage.as_ref().map(|u| u.total)
    }),
    (
        "container_cpu_kernel_nanoseconds",
        "CPU time used in the kernel.",
        |m| m.cpu.as_ref()?.usage.as_ref().map(|u| u.kernel),
    ),
    (
        "container_cpu_user_nanoseconds",
        "CPU time used in user space.",
        |m| m.cpu.as_ref()?.usage.as_ref().map(|u| u.user),
    ),
    (
        "container_cpu_throttle_periods_total",
        "Enforcement periods elapsed.",
        |m| m.cpu.as_ref()?.throttling.as_ref().map(|t| t.periods),
    ),
    (
        "container_cpu_throttled_periods_total",
        "Periods the cgroup was throttled in.",
        |m| {
            m.cpu
                .as_ref()?
                .throttling
                .as_ref()
                .map(|t| t.throttled_periods)
        },
    ),
    (
        "container_cpu_throttled_time_nanoseconds",
        "Time the cgroup was throttled for.",
        |m| {
            m.cpu
                .as_ref()?
                .throttling
                .as_ref()
                .map(|t| t.throttled_time)
        },
    ),
    ("container_memory_cache_bytes", "Page cache.", mem!(cache)),
    (
        "container_memory_rss_bytes",
        "Anonymous and swap cache memory.",
        mem!(rss),
    ),
    (
        "container_memory_rss_huge_bytes",
        "Anonymous transparent huge pages.",
        mem!(rss_huge),
    ),
    (
        "container_memory_mapped_file_bytes",
        "Memory-mapped files.",
        mem!(mapped_file),
    ),
    (
        "container_memory_dirty_bytes",
        "Pages waiting to be written back.",
        mem!(dirty),
    ),
    (
        "container_memory_writeback_bytes",
        "Pages being written back.",
        mem!(writeback),
    ),
    (
        "container_memory_pgpgin_bytes",
        "Pages charged (pgpgin).",
        mem!(pg_pg_in),
    ),
    (
        "container_memory_pgpgout_bytes",
        "Pages uncharged (pgpgout).",
        mem!(pg_pg_out),
    ),
    (
        "container_memory_pgfault_bytes",
        "Page faults.",
        mem!(pg_fault),
    ),
    (
        "container_memory_pgmajfault_bytes",
        "Major page faults.",
        mem!(pg_maj_fault),
    ),
    (
        "container_memory_inactive_anon_bytes",
        "Inactive anonymous memory.",
        mem!(inactive_anon),
    ),
    (
        "container_memory_active_anon_bytes",
        "Active anonymous memory.",
        mem!(active_anon),
    ),
    (
        "container_memory_inactive_file_bytes",
        "Inactive file cache.",
        mem!(inactive_file),
    ),
    (
        "container_memory_active_file_bytes",
        "Active file cache.",
        mem!(active_file),
    ),
    (
        "container_memory_unevictable_bytes",
        "Unevictable memory.",
        mem!(unevictable),
    ),
    (
        "container_memory_hierarchical_memory_limit_bytes",
        "Memory limit of the hierarchy.",
        mem!(hierarchical_memory_limit),
    ),
    (
        "container_memory_hierarchical_memsw_limit_bytes",
        "Memory and swap limit of the hierarchy.",
        mem!(hierarchical_swap_limit),
    ),
    (
        "container_memory_total_cache_bytes",
        "Page cache, with descendants.",
        mem!(total_cache),
    ),
    (
        "container_memory_total_rss_bytes",
        "Anonymous memory, with descendants.",
        mem!(total_rss),
    ),
    (
        "container_memory_total_rss_huge_bytes",
        "Huge pages, with descendants.",
        mem!(total_rss_huge),
    ),
    (
        "container_memory_total_mapped_file_bytes",
        "Mapped files, with descendants.",
        mem!(total_mapped_file),
    ),
    (
        "container_memory_total_dirty_bytes",
        "Dirty pages, with descendants.",
        mem!(total_dirty),
    ),
    (
        "container_memory_total_writeback_bytes",
        "Pages under writeback, with descendants.",
        mem!(total_writeback),
    ),
    (
        "container_memory_total_pgpgin_bytes",
        "Pages charged, with descendants.",
        mem!(total_pg_pg_in),
    ),
    (
        "container_memory_total_pgpgout_bytes",
        "Pages uncharged, with descendants.",
        mem!(total_pg_pg_out),
    ),
    (
        "container_memory_total_pgfault_bytes",
        "Page faults, with descendants.",
        mem!(total_pg_fault),
    ),
    (
        "container_memory_total_pgmajfault_bytes",
        "Major page faults, with descendants.",
        mem!(total_pg_maj_fault),
    ),
    (
        "container_memory_total_inactive_anon_bytes",
        "Inactive anonymous memory, with descendants.",
        mem!(total_inactive_anon),
    ),
    (
        "container_memory_total_active_anon_bytes",
        "Active anonymous memory, with descendants.",
        mem!(total_active_anon),
    ),
    (
        "container_memory_total_inactive_file_bytes",
        "Inactive file cache, with descendants.",
        mem!(total_inactive_file),
    ),
    (
        "container_memory_total_active_file_bytes",
        "Active file cache, with descendants.",
        mem!(total_active_file),
    ),
    (
        "container_memory_total_unevictable_bytes",
        "Unevictable memory, with descendants.",
        mem!(total_unevictable),
    ),
    (
        "container_memory_usage_failcnt_total",
        "Times the memory limit was hit.",
        entry!(usage, failcnt),
    ),
    (
        "container_memory_usage_limit_bytes",
        "Memory limit.",
        entry!(usage, limit),
    ),
    (
        "container_memory_usage_max_bytes",
        "Highest memory usage seen.",
        entry!(usage, max),
    ),
    (
        "container_memory_usage_usage_bytes",
        "Memory in use.",
        entry!(usage, usage),
    ),
    (
        "container_memory_swap_failcnt_total",
        "Times the memory and swap limit was hit.",
        entry!(swap, failcnt),
    ),
    (
        "container_memory_swap_limit_bytes",
        "Memory and swap limit.",
        entry!(swap, limit),
    ),
    (
        "container_memory_swap_max_bytes",
        "Highest memory and swap usage seen.",
        entry!(swap, max),
    ),
    (
        "container_memory_swap_usage_bytes",
        "Memory and swap in use.",
        entry!(swap, usage),
    ),
    (
        "container_memory_kernel_failcnt_total",
        "Times the kernel memory limit was hit.",
        entry!(kernel, failcnt),
    ),
    (
        "container_memory_kernel_limit_bytes",
        "Kernel memory limit.",
        entry!(kernel, limit),
    ),
    (
        "container_memory_kernel_max_bytes",
        "Highest kernel memory usage seen.",
        entry!(kernel, max),
    ),
    (
        "container_memory_kernel_usage_bytes",
        "Kernel memory in use.",
        entry!(kernel, usage),
    ),
    (
        "container_memory_kerneltcp_failcnt_total",
        "Times the TCP buffer limit was hit.",
        entry!(kernel_tcp, failcnt),
    ),
    (
        "container_memory_kerneltcp_limit_bytes",
        "TCP buffer memory limit.",
        entry!(kernel_tcp, limit),
    ),
    (
        "container_memory_kerneltcp_max_bytes",
        "Highest TCP buffer memory usage seen.",
        entry!(kernel_tcp, max),
    ),
    (
        "container_memory_kerneltcp_usage_bytes",
        "TCP buffer memory in use.",
        entry!(kernel_tcp, usage),
    ),
];

/// Block I/O families: name, help, entries; labels `op`, `device`, `major`, `minor`.
type BlkioGet = fn(&Metrics) -> Option<&[BlkIOEntry]>;

const BLKIO: &[(&str, &str, BlkioGet)] = &[
    (
        "container_blkio_io_merged_recursive_total",
        "Merged block I/O requests.",
        |m| m.blkio.as_ref().map(|b| b.io_merged_recursive.as_slice()),
    ),
    (
        "container_blkio_io_queued_recursive_total",
        "Queued block I/O requests.",
        |m| m.blkio.as_ref().map(|b| b.io_queued_recursive.as_slice()),
    ),
    (
        "container_blkio_io_service_bytes_recursive_bytes",
        "Bytes transferred to and from block devices.",
        |m| {
            m.blkio
                .as_ref()
                .map(|b| b.io_service_bytes_recursive.as_slice())
        },
    ),
    (
        "container_blkio_io_service_time_recursive_total",
        "Time spent serving block I/O.",
        |m| {
            m.blkio
                .as_ref()
                .map(|b| b.io_service_time_recursive.as_slice())
        },
    ),
    (
        "container_blkio_io_serviced_recursive_total",
        "Block I/O requests served.",
        |m| m.blkio.as_ref().map(|b| b.io_serviced_recursive.as_slice()),
    ),
    (
        "container_blkio_io_time_recursive_total",
        "Disk time given to the cgroup.",
        |m| m.blkio.as_ref().map(|b| b.io_time_recursive.as_slice()),
    ),
    (
        "container_blkio_sectors_recursive_total",
        "Sectors transferred.",
        |m| m.blkio.as_ref().map(|b| b.sectors_recursive.as_slice()),
    ),
];

/// Adds task `id` of namespace `ns`'s samples to `out`.
pub fn add(out: &mut Families, id: &str, ns: &str, m: &Metrics) {
    let base = [("container_id", id), ("namespace", ns)];
    for (name, help, get) in SCALARS {
        if let Some(v) = get(m) {
            out.gauge(name, help, &base, v as f64);
        }
    }
    if let Some(u) = m.cpu.as_ref().and_then(|c| c.usage.as_ref()) {
        for (i, v) in u.per_cpu.iter().enumerate() {
            let cpu = i.to_string();
            out.gauge(
                "container_per_cpu_nanoseconds",
                "CPU time used on each CPU.",
                &[base[0], base[1], ("cpu", &cpu)],
                *v as f64,
            );
        }
    }
    if let Some(o) = m.memory_oom_control.as_ref() {
        out.counter(
            "container_memory_oom_total",
            "Times the kernel's OOM killer acted in the cgroup.",
            &base,
            o.oom_kill as f64,
        );
    }
    for h in &m.hugetlb {
        let labels = [base[0], base[1], ("page", h.pagesize.as_str())];
        out.gauge(
            "container_hugetlb_usage_bytes",
            "Huge pages in use.",
            &labels,
            h.usage as f64,
        );
        out.gauge(
            "container_hugetlb_failcnt_total",
            "Times the huge page limit was hit.",
            &labels,
            h.failcnt as f64,
        );
        out.gauge(
            "container_hugetlb_max_bytes",
            "Highest huge page usage seen.",
            &labels,
            h.max as f64,
        );
    }
    for (name, help, get) in BLKIO {
        for e in get(m).unwrap_or_default() {
            let (major, minor) = (e.major.to_string(), e.minor.to_string());
            let labels = [
                base[0],
                base[1],
                ("op", e.op.as_str()),
                ("device", e.device.as_str()),
                ("major", &major),
                ("minor", &minor),
            ];
            out.gauge(name, help, &labels, e.value as f64);
        }
    }
}
