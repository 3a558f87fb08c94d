//! Specs of CRI containers checked against what containerd generates.

use std::collections::HashMap;

use crated_api::cri::{
    Capability, ContainerConfig, ContainerMetadata, Int64Value, KeyValue, LinuxContainerConfig,
    LinuxContainerResources, LinuxContainerSecurityContext, LinuxSandboxSecurityContext, Mount,
    NamespaceMode, NamespaceOption, SecurityProfile, security_profile::ProfileType,
};
use crated_oci::{Host, ImageConfig, UserDb};
use serde_json::Value;

use super::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:app\napp:x:1000:\naudio:x:29:app,other\n";

fn pod() -> PodContext {
    PodContext {
        sandbox_id: "sb1".into(),
        pod_name: "web".into(),
        pod_namespace: "default".into(),
        pod_uid: "uid-1".into(),
        pause_pid: 4242,
        cgroup_parent: "/kubepods/besteffort/pod1".into(),
        hostname: "web-0".into(),
        ..PodContext::default()
    }
}

fn image() -> ImageConfig {
    ImageConfig {
        user: String::new(),
        env: Some(vec!["PATH=/image/bin".into(), "A=image".into()]),
        entrypoint: Some(vec!["/entry".into()]),
        cmd: Some(vec!["serve".into()]),
        working_dir: "/srv".into(),
        labels: None,
        stop_signal: String::new(),
        volumes: None,
    }
}

fn options() -> SpecOptions {
    SpecOptions {
        cgroup_v2: true,
        kernel_has_safe_ptrace: true,
        host: Some(Host {
            capabilities: crated_oci::ALL_CAPABILITIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            devices: Vec::new(),
            hostname: "node".into(),
            kernel_has_safe_ptrace: true,
        }),
        host_hostname: "node".into(),
        ..SpecOptions::default()
    }
}

fn with_sc(sc: LinuxContainerSecurityContext) -> ContainerConfig {
    ContainerConfig {
        linux: Some(LinuxContainerConfig {
            resources: None,
            security_context: Some(sc),
        }),
        ..config()
    }
}

fn config() -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        ..ContainerConfig::default()
    }
}

fn build(
    pod: &PodContext,
    config: &ContainerConfig,
    image: &ImageConfig,
    opts: &SpecOptions,
) -> crate::Result<Value> {
    let input = ContainerInput {
        id: "c1",
        config,
        image,
        image_name: "docker.io/library/app:1",
        users: UserDb::from_text(Some(PASSWD), Some(GROUP)),
        volume_mounts: Vec::new(),
        target_pid: None,
    };
    let spec = container_spec(pod, &input, opts)?;
    Ok(serde_json::to_value(spec).unwrap())
}

fn spec(config: &ContainerConfig) -> Value {
    build(&pod(), config, &image(), &options()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn args_fall_back_to_the_image_as_docker_does() {
    let img = image();
    let mut c = config();
    assert_eq!(process_args(&c, &img).unwrap(), ["/entry", "serve"]);
    c.args = vec!["other".into()];
    assert_eq!(process_args(&c, &img).unwrap(), ["/entry", "other"]);
    c.command = vec!["/bin/sh".into()];
    c.args.clear();
    assert_eq!(
        process_args(&c, &img).unwrap(),
        ["/bin/sh"],
        "a command drops the image's cmd"
    );
    let mut empty_entry = img.clone();
    empty_entry.entrypoint = Some(vec![String::new()]);
    assert_eq!(process_args(&config(), &empty_entry).unwrap(), ["serve"]);
    let none = ImageConfig {
        entrypoint: None,
        cmd: None,
        ..img
    };
    let err = process_args(&config(), &none).unwrap_err();
    assert!(err.to_string().contains("no command specified"), "{err}");
}

#[test]
fn env_merges_path_hostname_image_then_cri() {
    let mut c = config();
    c.envs = vec![
        KeyValue {
            key: "A".into(),
            value: "cri".into(),
        },
        KeyValue {
            key: "B".into(),
            value: "b".into(),
        },
    ];
    let s = spec(&c);
    assert_eq!(
        strings(&s["process"]["env"]),
        ["PATH=/image/bin", "HOSTNAME=web-0", "A=cri", "B=b"]
    );
    assert_eq!(s["process"]["cwd"], "/srv");
    c.working_dir = "/work".into();
    c.tty = true;
    let s = spec(&c);
    assert_eq!(s["process"]["cwd"], "/work");
    assert_eq!(s["process"]["terminal"], true);
    assert!(strings(&s["process"]["env"]).contains(&"TERM=xterm".to_string()));
}

#[test]
fn pod_namespaces_are_joined_and_pid_mode_is_honoured() {
    let s = spec(&config());
    let ns = s["linux"]["namespaces"].as_array().unwrap().clone();
    let path = |t: &str| {
        ns.iter()
            .find(|n| n["type"] == t)
            .map(|n| n["path"].clone())
    };
    assert_eq!(path("network"), Some(Value::from("/proc/4242/ns/net")));
    assert_eq!(path("ipc"), Some(Value::from("/proc/4242/ns/ipc")));
    assert_eq!(path("uts"), Some(Value::from("/proc/4242/ns/uts")));
    assert_eq!(path("pid"), Some(Value::from("/proc/4242/ns/pid")));
    assert_eq!(
        path("mount"),
        Some(Value::Null),
        "the mount namespace is the container's own"
    );
    assert!(ns.iter().any(|n| n["type"] == "cgroup"));
    let s = spec(&with_sc(LinuxContainerSecurityContext {
        namespace_options: Some(NamespaceOption {
            pid: NamespaceMode::Container as i32,
            ..NamespaceOption::default()
        }),
        ..LinuxContainerSecurityContext::default()
    }));
    let ns = s["linux"]["namespaces"].as_array().unwrap();
    let pid = ns.iter().find(|n| n["type"] == "pid").unwrap();
    assert!(
        pid.get("path").is_none(),
        "a container-mode PID namespace is new: {pid}"
    );
    assert_eq!(s["linux"]["cgroupsPath"], "/kubepods/besteffort/pod1/c1");
}

#[test]
fn systemd_cgroup_parent_uses_the_slice_form() {
    assert_eq!(
        cgroups_path("/kubepods.slice/kubepods-pod1.slice", "c1"),
        "kubepods-pod1.slice:cri-containerd:c1"
    );
    assert_eq!(cgroups_path("/kubepods/pod1", "c1"), "/kubepods/pod1/c1");
}

#[test]
fn cve_2023_25173_user_and_groups_come_from_the_image_with_the_primary_first() {
    // The image's user by name: its uid, gid, and the groups listing it.
    let img = ImageConfig {
        user: "app".into(),
        ..image()
    };
    let s = build(&pod(), &config(), &img, &options()).unwrap();
    let user = &s["process"]["user"];
    assert_eq!(
        (user["uid"].as_u64(), user["gid"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(user["additionalGids"], serde_json::json!([1000, 10, 29]));
    // run_as_user + run_as_group + supplemental groups.
    let c = with_sc(LinuxContainerSecurityContext {
        run_as_user: Some(Int64Value { value: 1000 }),
        run_as_group: Some(Int64Value { value: 5000 }),
        supplemental_groups: vec![7000, 10],
        ..LinuxContainerSecurityContext::default()
    });
    let s = spec(&c);
    let user = &s["process"]["user"];
    assert_eq!(
        (user["uid"].as_u64(), user["gid"].as_u64()),
        (Some(1000), Some(5000))
    );
    assert_eq!(
        user["additionalGids"],
        serde_json::json!([5000, 7000, 10, 29])
    );
    // Root, with no user anywhere: gid 0 is always in the list.
    let s = spec(&config());
    assert_eq!(
        s["process"]["user"]["additionalGids"],
        serde_json::json!([0])
    );
    // A group without a user is refused.
    let c = with_sc(LinuxContainerSecurityContext {
        run_as_group: Some(Int64Value { value: 5 }),
        ..LinuxContainerSecurityContext::default()
    });
    assert!(build(&pod(), &c, &image(), &options()).is_err());
    // A username the image does not have is refused.
    let c = with_sc(LinuxContainerSecurityContext {
        run_as_username: "nobody-here".into(),
        ..LinuxContainerSecurityContext::default()
    });
    let err = build(&pod(), &c, &image(), &options()).unwrap_err();
    assert!(err.to_string().contains("nobody-here"), "{err}");
}

#[test]
fn capabilities_add_and_drop_with_all() {
    let caps = |add: &[&str], drop: &[&str]| {
        let s = spec(&with_sc(LinuxContainerSecurityContext {
            capabilities: Some(Capability {
                add_capabilities: add.iter().map(|s| s.to_string()).collect(),
                drop_capabilities: drop.iter().map(|s| s.to_string()).collect(),
                add_ambient_capabilities: Vec::new(),
            }),
            ..LinuxContainerSecurityContext::default()
        }));
        assert!(s["process"]["capabilities"].get("ambient").is_none());
        let sorted = |k: &str| {
            let mut v = strings(&s["process"]["capabilities"][k]);
            v.sort();
            v
        };
        assert_eq!(sorted("effective"), sorted("bounding"));
        assert_eq!(sorted("permitted"), sorted("bounding"));
        sorted("bounding")
    };
    let base = caps(&[], &[]);
    assert!(
        base.contains(&"CAP_CHOWN".to_string()) && !base.contains(&"CAP_SYS_ADMIN".to_string())
    );
    let added = caps(&["SYS_ADMIN"], &["chown"]);
    assert!(
        added.contains(&"CAP_SYS_ADMIN".to_string()) && !added.contains(&"CAP_CHOWN".to_string())
    );
    assert_eq!(caps(&["NET_RAW"], &["ALL"]), ["CAP_NET_RAW"]);
    let all = caps(&["ALL"], &["CHOWN"]);
    assert_eq!(all.len(), crated_oci::ALL_CAPABILITIES.len() - 1);
}

#[test]
fn privileged_needs_a_privileged_pod_and_gets_everything() {
    let c = with_sc(LinuxContainerSecurityContext {
        privileged: true,
        masked_paths: vec!["/proc/kcore".into()],
        seccomp: Some(SecurityProfile {
            profile_type: ProfileType::RuntimeDefault as i32,
            localhost_ref: String::new(),
        }),
        ..LinuxContainerSecurityContext::default()
    });
    let err = build(&pod(), &c, &image(), &options()).unwrap_err();
    assert!(err.to_string().contains("privileged"), "{err}");
    let mut p = pod();
    p.security = Some(LinuxSandboxSecurityContext {
        privileged: true,
        ..LinuxSandboxSecurityContext::default()
    });
    let s = build(&p, &c, &image(), &options()).unwrap();
    assert_eq!(
        strings(&s["process"]["capabilities"]["bounding"]).len(),
        crated_oci::ALL_CAPABILITIES.len()
    );
    assert_eq!(s["linux"]["maskedPaths"], serde_json::json!([]));
    assert!(s["linux"].get("seccomp").is_none());
}

#[test]
fn seccomp_profiles() {
    let with = |t: ProfileType, r: &str| {
        build(
            &pod(),
            &with_sc(LinuxContainerSecurityContext {
                seccomp: Some(SecurityProfile {
                    profile_type: t as i32,
                    localhost_ref: r.into(),
                }),
                ..LinuxContainerSecurityContext::default()
            }),
            &image(),
            &options(),
        )
    };
    let s = with(ProfileType::RuntimeDefault, "").unwrap();
    assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(
        with(ProfileType::Unconfined, "").unwrap()["linux"]
            .get("seccomp")
            .is_none()
    );
    assert!(spec(&config())["linux"].get("seccomp").is_none());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.json");
    std::fs::write(
        &file,
        r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86_64"],"syscalls":[]}"#,
    )
    .unwrap();
    let s = with(ProfileType::Localhost, file.to_str().unwrap()).unwrap();
    assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_LOG");
    std::fs::write(&file, "not json").unwrap();
    assert!(with(ProfileType::Localhost, file.to_str().unwrap()).is_err());
    assert!(with(ProfileType::Localhost, "/nonexistent/profile.json").is_err());
}

#[test]
fn readonly_rootfs_no_new_privs_and_paths() {
    let s = spec(&with_sc(LinuxContainerSecurityContext {
        readonly_rootfs: true,
        no_new_privs: true,
        masked_paths: vec!["/proc/kcore".into()],
        readonly_paths: vec!["/proc/sys".into()],
        ..LinuxContainerSecurityContext::default()
    }));
    assert_eq!(s["root"]["readonly"], true);
    assert_eq!(s["root"]["path"], "rootfs");
    assert_eq!(s["process"]["noNewPrivileges"], true);
    assert_eq!(strings(&s["linux"]["maskedPaths"]), ["/proc/kcore"]);
    assert_eq!(strings(&s["linux"]["readonlyPaths"]), ["/proc/sys"]);
    let s = spec(&config());
    assert!(
        s["process"]
            .get("noNewPrivileges")
            .is_none_or(|v| v == false)
    );
    assert_eq!(s["linux"]["maskedPaths"], serde_json::json!([]));
}

#[test]
fn resources_and_oom_score() {
    let mut c = config();
    c.linux = Some(LinuxContainerConfig {
        resources: Some(LinuxContainerResources {
            cpu_period: 100_000,
            cpu_quota: 50_000,
            cpu_shares: 512,
            memory_limit_in_bytes: 64 << 20,
            oom_score_adj: -100,
            cpuset_cpus: "0-1".into(),
            cpuset_mems: "0".into(),
            hugepage_limits: vec![crated_api::cri::HugepageLimit {
                page_size: "2MB".into(),
                limit: 1 << 21,
            }],
            unified: HashMap::from([("memory.high".to_string(), "1000000".to_string())]),
            memory_swap_limit_in_bytes: 0,
        }),
        security_context: None,
    });
    let mut opts = options();
    opts.resources = ResourceHost {
        swap: true,
        hugetlb: true,
        tolerate_missing_hugetlb: false,
    };
    let s = build(&pod(), &c, &image(), &opts).unwrap();
    let r = &s["linux"]["resources"];
    assert_eq!(
        (
            r["cpu"]["period"].as_u64(),
            r["cpu"]["quota"].as_i64(),
            r["cpu"]["shares"].as_u64()
        ),
        (Some(100_000), Some(50_000), Some(512))
    );
    assert_eq!(
        (r["cpu"]["cpus"].as_str(), r["cpu"]["mems"].as_str()),
        (Some("0-1"), Some("0"))
    );
    assert_eq!(
        (r["memory"]["limit"].as_i64(), r["memory"]["swap"].as_i64()),
        (Some(64 << 20), Some(64 << 20))
    );
    assert_eq!(r["hugepageLimits"][0]["pageSize"], "2MB");
    assert_eq!(r["unified"]["memory.high"], "1000000");
    assert_eq!(s["process"]["oomScoreAdj"], -100);
    opts.restrict_oom_score_adj = true;
    opts.current_oom_score_adj = -50;
    assert_eq!(
        build(&pod(), &c, &image(), &opts).unwrap()["process"]["oomScoreAdj"],
        -50
    );
    opts.resources.hugetlb = false;
    let err = build(&pod(), &c, &image(), &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("tolerate_missing_hugetlb_controller"),
        "{err}"
    );
    opts.resources.tolerate_missing_hugetlb = true;
    assert!(
        build(&pod(), &c, &image(), &opts).unwrap()["linux"]["resources"]
            .get("hugepageLimits")
            .is_none()
    );
}

#[test]
fn annotations_name_the_pod_and_pass_through_configured_keys() {
    let mut p = pod();
    p.annotations = HashMap::from([
        ("io.katacontainers.x".to_string(), "1".to_string()),
        ("other".to_string(), "2".to_string()),
    ]);
    let mut opts = options();
    opts.pod_annotations = vec!["io.katacontainers.*".into()];
    let s = build(&p, &config(), &image(), &opts).unwrap();
    let a = &s["annotations"];
    assert_eq!(a["io.kubernetes.cri.container-type"], "container");
    assert_eq!(a["io.kubernetes.cri.sandbox-id"], "sb1");
    assert_eq!(a["io.kubernetes.cri.container-name"], "app");
    assert_eq!(a["io.kubernetes.cri.image-name"], "docker.io/library/app:1");
    assert_eq!(a["io.katacontainers.x"], "1");
    assert!(a.get("other").is_none());
}

#[test]
fn mounts_pod_files_cri_overrides_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, name).unwrap();
        p
    };
    let mut p = pod();
    p.hostname_path = Some(file("hostname"));
    p.hosts_path = Some(file("hosts"));
    p.resolv_path = Some(file("resolv.conf"));
    p.shm_path = Some(dir.path().join("shm"));
    std::fs::create_dir(dir.path().join("shm")).unwrap();
    let data = dir.path().join("data");
    let link = dir.path().join("data-link");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let mut c = config();
    c.mounts = vec![
        Mount {
            container_path: "/var/lib/app/cache".into(),
            host_path: dir.path().join("made-for-me").to_string_lossy().into(),
            ..Mount::default()
        },
        Mount {
            container_path: "/var/lib/app".into(),
            host_path: link.to_string_lossy().into(),
            readonly: true,
            ..Mount::default()
        },
        Mount {
            container_path: "/etc/hosts".into(),
            host_path: file("my-hosts").to_string_lossy().into(),
            ..Mount::default()
        },
    ];
    let s = build(&p, &c, &image(), &options()).unwrap();
    let mounts = s["mounts"].as_array().unwrap();
    let find = |d: &str| {
        mounts
            .iter()
            .filter(|m| m["destination"] == d)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(find("/etc/hosts").len(), 1);
    assert!(
        find("/etc/hosts")[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("my-hosts")
    );
    assert!(
        find("/etc/hostname")[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("hostname")
    );
    assert_eq!(find("/dev/shm")[0]["type"], "bind");
    assert!(find("/run").is_empty(), "no /run tmpfs in CRI containers");
    let app = &find("/var/lib/app")[0];
    assert_eq!(
        app["source"].as_str().unwrap(),
        data.to_str().unwrap(),
        "symlinked host path resolved"
    );
    assert_eq!(strings(&app["options"]), ["rbind", "rprivate", "ro"]);
    assert!(
        dir.path().join("made-for-me").is_dir(),
        "a missing host path is created"
    );
    let pos = |d: &str| mounts.iter().position(|m| m["destination"] == d).unwrap();
    assert!(
        pos("/var/lib/app") < pos("/var/lib/app/cache"),
        "a parent is mounted before its child"
    );
}

#[test]
fn mount_paths_that_could_escape_are_refused() {
    for (dst, src) in [
        ("/a/../../etc", "/tmp"),
        ("relative", "/tmp"),
        ("/ok", "relative/host"),
    ] {
        let mut c = config();
        c.mounts = vec![Mount {
            container_path: dst.into(),
            host_path: src.into(),
            ..Mount::default()
        }];
        let err = build(&pod(), &c, &image(), &options()).unwrap_err();
        assert!(
            matches!(err, crate::Error::InvalidArgument(_)),
            "{dst} {src}: {err}"
        );
    }
}

#[test]
fn bidirectional_propagation_needs_a_shared_host_mount() {
    let mut c = config();
    c.mounts = vec![Mount {
        container_path: "/host".into(),
        host_path: "/".into(),
        propagation: crated_api::cri::MountPropagation::PropagationBidirectional as i32,
        ..Mount::default()
    }];
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root_shared = info
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/") && l.contains("shared:"));
    match build(&pod(), &c, &image(), &options()) {
        Ok(s) => {
            assert!(root_shared, "accepted a private mount as shared");
            assert_eq!(s["linux"]["rootfsPropagation"], "rshared");
        }
        Err(e) => {
            assert!(!root_shared, "refused a shared mount: {e}");
            assert!(matches!(e, crate::Error::FailedPrecondition(_)));
        }
    }
}

#[test]
fn devices_are_added_with_their_permissions() {
    let mut c = config();
    c.devices = vec![crated_api::cri::Device {
        container_path: "/dev/mynull".into(),
        host_path: "/dev/null".into(),
        permissions: "rw".into(),
    }];
    let s = spec(&c);
    let dev = s["linux"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "/dev/mynull")
        .unwrap()
        .clone();
    assert_eq!(
        (
            dev["major"].as_i64(),
            dev["minor"].as_i64(),
            dev["type"].as_str()
        ),
        (Some(1), Some(3), Some("c"))
    );
    let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
    assert!(
        rules.iter().any(|r| r["allow"] == true
            && r["major"] == 1
            && r["minor"] == 3
            && r["access"] == "rw")
    );
    c.devices[0].host_path = "/etc/hostname".into();
    assert!(build(&pod(), &c, &image(), &options()).is_err());
}
