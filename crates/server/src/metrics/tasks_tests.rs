use crated_api::ttrpc::cgroups::metrics as m1;
use crated_api::ttrpc::cgroups_v2::metrics as m2;
use prometheus::Encoder as _;

use super::*;
use crate::metrics::testing::{sample, type_of};

fn text(out: Families) -> String {
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&out.into_vec(), &mut buf)
        .unwrap();
    String::from_utf8(buf).unwrap()
}

fn v2_stats(usage: u64) -> Vec<u8> {
    let mut m = m2::Metrics::new();
    let mut mem = m2::MemoryStat::new();
    mem.usage = usage;
    mem.usage_limit = 1 << 30;
    mem.anon = 4096;
    m.memory = Some(mem).into();
    let mut cpu = m2::CPUStat::new();
    cpu.usage_usec = 1500;
    m.cpu = Some(cpu).into();
    let mut pids = m2::PidsStat::new();
    pids.current = 3;
    pids.limit = 100;
    m.pids = Some(pids).into();
    let mut ev = m2::MemoryEvents::new();
    ev.oom = 2;
    m.memory_events = Some(ev).into();
    let mut io = m2::IOStat::new();
    let mut e = m2::IOEntry::new();
    e.major = 8;
    e.minor = 16;
    e.rbytes = 512;
    io.usage.push(e);
    m.io = Some(io).into();
    m.write_to_bytes().unwrap()
}

#[test]
fn v2_statistics_under_containerd_names() {
    let stats = decode("io.containerd.cgroups.v2.Metrics", &v2_stats(8 << 20))
        .unwrap()
        .unwrap();
    let mut out = Families::default();
    add(&mut out, "web", "default", &stats);
    add(&mut out, "db", "k8s.io", &stats);
    let t = text(out);
    let web = [("container_id", "web"), ("namespace", "default")];
    assert_eq!(
        sample(&t, "container_memory_usage_bytes", &web),
        Some(8388608.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "container_memory_usage_limit_bytes", &web),
        Some(1073741824.0)
    );
    assert_eq!(
        sample(&t, "container_memory_anon_bytes", &web),
        Some(4096.0)
    );
    assert_eq!(
        sample(&t, "container_cpu_usage_usec_microseconds", &web),
        Some(1500.0)
    );
    assert_eq!(sample(&t, "container_pids_current", &web), Some(3.0));
    assert_eq!(sample(&t, "container_pids_limit", &web), Some(100.0));
    assert_eq!(sample(&t, "container_memory_oom_total", &web), Some(2.0));
    let disk = [("container_id", "db"), ("major", "8"), ("minor", "16")];
    assert_eq!(sample(&t, "container_io_rbytes_bytes", &disk), Some(512.0));
    assert_eq!(
        type_of(&t, "container_memory_usage_bytes").as_deref(),
        Some("gauge")
    );
    // One family per name, two tasks in it.
    assert_eq!(t.matches("# TYPE container_pids_current ").count(), 1);
    assert_eq!(t.matches("container_pids_current{").count(), 2);
}

#[test]
fn v1_statistics_under_containerd_names() {
    let mut m = m1::Metrics::new();
    let mut mem = m1::MemoryStat::new();
    mem.rss = 1000;
    mem.cache = 2000;
    let mut usage = m1::MemoryEntry::new();
    usage.usage = 3000;
    usage.limit = 4000;
    mem.usage = Some(usage).into();
    m.memory = Some(mem).into();
    let mut cpu = m1::CPUStat::new();
    let mut u = m1::CPUUsage::new();
    u.total = 77;
    u.per_cpu = vec![70, 7];
    cpu.usage = Some(u).into();
    m.cpu = Some(cpu).into();
    let mut oom = m1::MemoryOomControl::new();
    oom.oom_kill = 1;
    m.memory_oom_control = Some(oom).into();
    let mut h = m1::HugetlbStat::new();
    h.pagesize = "2MB".into();
    h.usage = 2 << 20;
    m.hugetlb.push(h);
    let mut b = m1::BlkIOStat::new();
    let mut e = m1::BlkIOEntry::new();
    e.op = "Read".into();
    e.major = 8;
    e.value = 9;
    b.io_service_bytes_recursive.push(e);
    m.blkio = Some(b).into();
    let bytes = m.write_to_bytes().unwrap();
    let stats = decode("types.example/io.containerd.cgroups.v1.Metrics", &bytes)
        .unwrap()
        .unwrap();
    let mut out = Families::default();
    add(&mut out, "web", "default", &stats);
    let t = text(out);
    let web = [("container_id", "web"), ("namespace", "default")];
    assert_eq!(
        sample(&t, "container_memory_rss_bytes", &web),
        Some(1000.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "container_memory_cache_bytes", &web),
        Some(2000.0)
    );
    assert_eq!(
        sample(&t, "container_memory_usage_usage_bytes", &web),
        Some(3000.0)
    );
    assert_eq!(
        sample(&t, "container_memory_usage_limit_bytes", &web),
        Some(4000.0)
    );
    assert_eq!(
        sample(&t, "container_cpu_total_nanoseconds", &web),
        Some(77.0)
    );
    assert_eq!(
        sample(&t, "container_per_cpu_nanoseconds", &[("cpu", "1")]),
        Some(7.0)
    );
    assert_eq!(sample(&t, "container_memory_oom_total", &web), Some(1.0));
    assert_eq!(
        type_of(&t, "container_memory_oom_total").as_deref(),
        Some("counter")
    );
    assert_eq!(
        sample(&t, "container_hugetlb_usage_bytes", &[("page", "2MB")]),
        Some(2097152.0)
    );
    let read = [("op", "Read"), ("major", "8"), ("minor", "0")];
    assert_eq!(
        sample(
            &t,
            "container_blkio_io_service_bytes_recursive_bytes",
            &read
        ),
        Some(9.0)
    );
}

#[test]
fn other_types_are_skipped_and_garbage_is_an_error() {
    assert!(
        decode("io.containerd.windows.Stats", b"")
            .unwrap()
            .is_none()
    );
    let e = decode("io.containerd.cgroups.v2.Metrics", &[0xff, 0xff, 0xff]).unwrap_err();
    assert!(e.contains("io.containerd.cgroups.v2.Metrics"), "{e}");
}
