//! Task metrics from cgroup v2 statistics (`io.containerd.cgroups.v2.Metrics`),
//! under the names, types and labels containerd's cgroups monitor gives them.
//! Huge pages, which containerd's v2 collector leaves out, are given under
//! the v1 names for usage and failures (so one query serves both
//! hierarchies) and as `container_hugetlb_limit_bytes` for the limit.

use crated_api::ttrpc::cgroups_v2::metrics::{IOEntry, Metrics};

use super::families::Families;

type Get = fn(&Metrics) -> Option<u64>;

/// Reads field `$f` of the memory statistics.
macro_rules! mem {
    ($f:ident) => {
        |m: &Metrics| m.memory.as_ref().map(|x| x.$f)
    };
}

/// Reads field `$f` of the CPU statistics.
macro_rules! cpu {
    ($f:ident) => {
        |m: &Metrics| m.cpu.as_ref().map(|x| x.$f)
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
    (
        "container_cpu_usage_usec_microseconds",
        "CPU time used.",
        cpu!(usage_usec),
    ),
    (
        "container_cpu_user_usec_microseconds",
        "CPU time used in user space.",
        cpu!(user_usec),
    ),
    (
        "container_cpu_system_usec_microseconds",
        "CPU time used in the kernel.",
        cpu!(system_usec),
    ),
    (
        "container_cpu_nr_periods_total",
        "Enforcement periods elapsed.",
        cpu!(nr_periods),
    ),
    (
        "container_cpu_nr_throttled_total",
        "Periods the cgroup was throttled in.",
        cpu!(nr_throttled),
    ),
    (
        "container_cpu_throttled_usec_microseconds",
        "Time the cgroup was throttled for.",
        cpu!(throttled_usec),
    ),
    (
        "container_memory_usage_bytes",
        "Memory in use.",
        mem!(usage),
    ),
    (
        "container_memory_usage_limit_bytes",
        "Memory limit.",
        mem!(usage_limit),
    ),
    (
        "container_memory_swap_usage_bytes",
        "Swap in use.",
        mem!(swap_usage),
    ),
    (
        "container_memory_swap_limit_bytes",
        "Swap limit.",
        mem!(swap_limit),
    ),
    (
        "container_memory_file_mapped_bytes",
        "Memory-mapped files.",
        mem!(file_mapped),
    ),
    (
        "container_memory_file_dirty_bytes",
        "Pages waiting to be written back.",
        mem!(file_dirty),
    ),
    (
        "container_memory_file_writeback_bytes",
        "Pages being written back.",
        mem!(file_writeback),
    ),
    (
        "container_memory_pgactivate_bytes",
        "Pages moved to the active list.",
        mem!(pgactivate),
    ),
    (
        "container_memory_pgdeactivate_bytes",
        "Pages moved to the inactive list.",
        mem!(pgdeactivate),
    ),
    (
        "container_memory_pgfault_bytes",
        "Page faults.",
        mem!(pgfault),
    ),
    (
        "container_memory_pgmajfault_bytes",
        "Major page faults.",
        mem!(pgmajfault),
    ),
    (
        "container_memory_pglazyfree_bytes",
        "Pages postponed to be freed.",
        mem!(pglazyfree),
    ),
    (
        "container_memory_pgrefill_bytes",
        "Pages scanned on the active list.",
        mem!(pgrefill),
    ),
    (
        "container_memory_pglazyfreed_bytes",
        "Lazily freed pages reclaimed.",
        mem!(pglazyfreed),
    ),
    (
        "container_memory_pgscan_bytes",
        "Pages scanned on the inactive list.",
        mem!(pgscan),
    ),
    (
        "container_memory_pgsteal_bytes",
        "Pages reclaimed.",
        mem!(pgsteal),
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
        "container_memory_anon_bytes",
        "Anonymous memory.",
        mem!(anon),
    ),
    ("container_memory_file_bytes", "File cache.", mem!(file)),
    (
        "container_memory_kernel_stack_bytes",
        "Kernel stacks.",
        mem!(kernel_stack),
    ),
    (
        "container_memory_slab_bytes",
        "Kernel slab memory.",
        mem!(slab),
    ),
    (
        "container_memory_sock_bytes",
        "Network buffers.",
        mem!(sock),
    ),
    (
        "container_memory_shmem_bytes",
        "Shared memory.",
        mem!(shmem),
    ),
    (
        "container_memory_anon_thp_bytes",
        "Anonymous transparent huge pages.",
        mem!(anon_thp),
    ),
    (
        "container_memory_slab_reclaimable_bytes",
        "Reclaimable slab memory.",
        mem!(slab_reclaimable),
    ),
    (
        "container_memory_slab_unreclaimable_bytes",
        "Unreclaimable slab memory.",
        mem!(slab_unreclaimable),
    ),
    (
        "container_memory_workingset_refault_bytes",
        "Refaults of evicted pages.",
        mem!(workingset_refault),
    ),
    (
        "container_memory_workingset_activate_bytes",
        "Refaulted pages activated at once.",
        mem!(workingset_activate),
    ),
    (
        "container_memory_workingset_nodereclaim_bytes",
        "Times a shadow node was reclaimed.",
        mem!(workingset_nodereclaim),
    ),
    (
        "container_memory_thp_fault_alloc_bytes",
        "Huge pages allocated on fault.",
        mem!(thp_fault_alloc),
    ),
    (
        "container_memory_thp_collapse_alloc_bytes",
        "Huge pages allocated by collapsing.",
        mem!(thp_collapse_alloc),
    ),
    (
        "container_memory_oom_total",
        "OOM events in the cgroup.",
        |m| m.memory_events.as_ref().map(|e| e.oom),
    ),
];

/// I/O families: name, help, value of an entry; labels `major`, `minor`.
type IoGet = fn(&IOEntry) -> u64;

const IO: &[(&str, &str, IoGet)] = &[
    ("container_io_rbytes_bytes", "Bytes read.", |e| e.rbytes),
    ("container_io_wbytes_bytes", "Bytes written.", |e| e.wbytes),
    ("container_io_rios_total", "Read operations.", |e| e.rios),
    ("container_io_wios_total", "Write operations.", |e| e.wios),
];

/// Adds task `id` of namespace `ns`'s samples to `out`.
pub fn add(out: &mut Families, id: &str, ns: &str, m: &Metrics) {
    let base = [("container_id", id), ("namespace", ns)];
    for (name, help, get) in SCALARS {
        if let Some(v) = get(m) {
            out.gauge(name, help, &base, v as f64);
        }
    }
    for e in
        m.io.as_ref()
            .map(|io| io.usage.as_slice())
            .unwrap_or_default()
    {
        let (major, minor) = (e.major.to_string(), e.minor.to_string());
        let labels = [base[0], base[1], ("major", &major), ("minor", &minor)];
        for (name, help, get) in IO {
            out.gauge(name, help, &labels, get(e) as f64);
        }
    }
    for h in &m.hugetlb {
        let labels = [base[0], base[1], ("page", h.pagesize.as_str())];
        out.gauge(
            "container_hugetlb_usage_bytes",
            "Huge pages in use.",
            &labels,
            h.current as f64,
        );
        out.gauge(
            "container_hugetlb_failcnt_total",
            "Times the huge page limit was hit.",
            &labels,
            h.failcnt as f64,
        );
        out.gauge(
            "container_hugetlb_limit_bytes",
            "Huge page limit.",
            &labels,
            h.max as f64,
        );
    }
}
