//! Spec generation compared with what containerd 1.6.20's `ctr` writes.
//!
//! `testdata/ctr-*.json` are the specs `ctr containers create --rootfs`
//! stored for the options named in each test (captured from Debian's
//! containerd 1.6.20). containerd 1.7 and later add a read-only cgroup
//! filesystem mount after `/sys`, which crated writes too; the tests add it
//! to the 1.6 captures before comparing.

use super::*;
use serde_json::{Value, json};

fn golden(name: &str) -> Value {
    let text = match name {
        "basic" => include_str!("testdata/ctr-basic.json"),
        "full" => include_str!("testdata/ctr-full.json"),
        "priv" => include_str!("testdata/ctr-priv.json"),
        _ => panic!("no golden {name}"),
    };
    let mut value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    // containerd >= 1.7: /sys/fs/cgroup after /sys, writable when privileged.
    let privileged = name == "priv";
    if let Some(mounts) = value.get_mut("mounts").and_then(Value::as_array_mut) {
        let at = mounts
            .iter()
            .position(|m| m["destination"] == "/sys")
            .map_or(mounts.len(), |i| i + 1);
        mounts.insert(
            at,
            json!({
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": [if privileged { "rw" } else { "ro" }, "nosuid", "noexec", "nodev"],
            }),
        );
    }
    normalize(value)
}

/// Capability sets have no order in the OCI types; sort them.
fn normalize(mut value: Value) -> Value {
    if let Some(caps) = value
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    {
        for list in caps.values_mut() {
            if let Some(items) = list.as_array_mut() {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    value
}

fn to_json(spec: &Spec) -> Value {
    normalize(serde_json::to_value(spec).unwrap_or(Value::Null))
}

#[track_caller]
fn assert_same(actual: &Value, expected: &Value) {
    if actual != expected {
        let a = serde_json::to_string_pretty(actual).unwrap_or_default();
        let e = serde_json::to_string_pretty(expected).unwrap_or_default();
        let first = a
            .lines()
            .zip(e.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "spec differs from containerd's from line {first}:\n--- actual ---\n{}\n--- expected ---\n{}",
            a.lines()
                .skip(first.saturating_sub(5))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n"),
            e.lines()
                .skip(first.saturating_sub(5))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

fn build(builder: SpecBuilder) -> Spec {
    match builder.build() {
        Ok(spec) => spec,
        Err(err) => panic!("build failed: {err}"),
    }
}

fn test_host() -> Host {
    Host {
        capabilities: Vec::new(),
        devices: Vec::new(),
        hostname: "vm".to_string(),
        kernel_has_safe_ptrace: true,
    }
}

#[test]
fn default_spec_matches_containerd() {
    // ctr containers create --rootfs /tmp/ct/rootfs golden-basic /bin/echo hi
    let spec = build(
        SpecBuilder::new("default", "golden-basic")
            .rootfs_path("/tmp/ct/rootfs")
            .args(["/bin/echo", "hi"])
            .host(test_host()),
    );
    assert_same(&to_json(&spec), &golden("basic"));
}

#[test]
fn options_match_containerd() {
    // ctr containers create --rootfs --seccomp --read-only --cpu-quota 150000
    //   --cpu-period 100000 --memory-limit 1048576 --env FOO=bar --env PATH=/bin
    //   --mount type=bind,src=/tmp,dst=/host,options=rbind:ro --cwd /tmp
    //   --label a=b --tty --net-host /tmp/ct/rootfs golden-full /bin/sh
    let mount = parse_mount("type=bind,src=/tmp,dst=/host,options=rbind:ro");
    let Ok(mount) = mount else {
        panic!("{mount:?}");
    };
    let spec = build(
        SpecBuilder::new("default", "golden-full")
            .rootfs_path("/tmp/ct/rootfs")
            .args(["/bin/sh"])
            .seccomp(Seccomp::Default)
            .readonly_rootfs(true)
            .cpu_cfs(150_000, 100_000)
            .memory_limit(1_048_576)
            .env(["FOO=bar", "PATH=/bin"])
            .mount(mount)
            .cwd("/tmp")
            .annotations([("a".to_string(), "b".to_string())].into())
            .tty(true)
            .host_network(true)
            .host(test_host()),
    );
    assert_same(&to_json(&spec), &golden("full"));
}

#[test]
fn privileged_matches_containerd() {
    // ctr containers create --rootfs --privileged /tmp/ct/rootfs golden-priv sh
    let expected = golden("priv");
    let caps: Vec<String> =
        serde_json::from_value(expected["process"]["capabilities"]["bounding"].clone())
            .unwrap_or_default();
    let devices: Vec<LinuxDevice> =
        serde_json::from_value(expected["linux"]["devices"].clone()).unwrap_or_default();
    // ctr ran without CAP_SYS_RESOURCE (this VM does not grant it).
    assert!(caps.len() + 1 >= ALL_CAPABILITIES.len());
    assert!(devices.len() > 10);
    let spec = build(
        SpecBuilder::new("default", "golden-priv")
            .rootfs_path("/tmp/ct/rootfs")
            .args(["sh"])
            .privileged(true)
            // Privileged containers never get a seccomp profile.
            .seccomp(Seccomp::Default)
            .host(Host {
                capabilities: caps,
                devices,
                ..test_host()
            }),
    );
    assert_same(&to_json(&spec), &expected);
}

#[test]
fn seccomp_profile_widens_with_capabilities() {
    let full = golden("full");
    let profile = default_seccomp_profile(
        &DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        true,
    );
    let json = serde_json::to_value(&profile).unwrap_or(Value::Null);
    assert_same(&json, &full["linux"]["seccomp"]);

    // With CAP_SYS_ADMIN: mount and unrestricted clone, no clone3 ENOSYS.
    let admin = default_seccomp_profile(&["CAP_SYS_ADMIN".to_string()], false);
    let syscalls = admin.syscalls().clone().unwrap_or_default();
    let names: Vec<&String> = syscalls.iter().flat_map(|s| s.names()).collect();
    assert!(names.iter().any(|n| *n == "mount"));
    assert!(!names.iter().any(|n| *n == "ptrace"));
    assert!(syscalls.iter().all(|s| s.errno_ret().is_none()));
}

#[test]
fn image_config_gives_args_env_cwd_and_user() {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir");
    };
    let root = dir.path();
    assert!(std::fs::create_dir_all(root.join("etc")).is_ok());
    assert!(
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
        )
        .is_ok()
    );
    assert!(
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app\n"
        )
        .is_ok()
    );
    let config = ImageConfig {
        user: "app".to_string(),
        env: Some(vec!["PATH=/usr/bin".to_string(), "LANG=C".to_string()]),
        entrypoint: Some(vec!["/entry".to_string()]),
        cmd: Some(vec!["serve".to_string()]),
        working_dir: "/srv".to_string(),
        ..ImageConfig::default()
    };
    let root_path = root.display().to_string();
    let spec = build(
        SpecBuilder::new("ns", "c1")
            .rootfs_path(root_path.clone())
            .image_config(config.clone())
            .env(["LANG=en_US.UTF-8", "EXTRA=1"])
            .host(test_host()),
    );
    let process = spec
        .process()
        .clone()
        .unwrap_or_else(|| panic!("no process"));
    assert_eq!(
        process.args().clone().unwrap_or_default(),
        vec!["/entry", "serve"]
    );
    assert_eq!(
        process.env().clone().unwrap_or_default(),
        vec!["PATH=/usr/bin", "LANG=en_US.UTF-8", "EXTRA=1"]
    );
    assert_eq!(process.cwd(), Path::new("/srv"));
    assert_eq!((process.user().uid(), process.user().gid()), (1000, 1000));
    assert_eq!(
        process.user().additional_gids().clone(),
        Some(vec![1000, 10])
    );

    // Arguments replace entrypoint and cmd, as with ctr run; --user wins
    // over the image's user; an image without ENV gets the default PATH.
    let spec = build(
        SpecBuilder::new("ns", "c1")
            .rootfs_path(root_path)
            .image_config(ImageConfig {
                env: None,
                ..config
            })
            .args(["/bin/sh"])
            .user("0:10")
            .host(test_host()),
    );
    let process = spec
        .process()
        .clone()
        .unwrap_or_else(|| panic!("no process"));
    assert_eq!(process.args().clone().unwrap_or_default(), vec!["/bin/sh"]);
    assert_eq!(
        process.env().clone().unwrap_or_default(),
        vec![DEFAULT_PATH_ENV]
    );
    assert_eq!((process.user().uid(), process.user().gid()), (0, 10));
}

#[test]
fn users_without_a_passwd_file() {
    let spec = build(
        SpecBuilder::new("ns", "c1")
            .rootfs_path("/nonexistent/rootfs")
            .user("1000")
            .default_path_env()
            .host(test_host()),
    );
    let process = spec
        .process()
        .clone()
        .unwrap_or_else(|| panic!("no process"));
    assert_eq!((process.user().uid(), process.user().gid()), (1000, 0));
    assert_eq!(
        process.env().clone().unwrap_or_default(),
        vec![DEFAULT_PATH_ENV]
    );
    let err = SpecBuilder::new("ns", "c1")
        .rootfs_path("/nonexistent/rootfs")
        .user("www")
        .host(test_host())
        .build();
    assert!(err.is_err());
}

#[test]
fn cpus_and_env_edits() {
    let spec = build(
        SpecBuilder::new("ns", "c1")
            .cpus(1.5)
            .cpu_shares(1024)
            .env(["A=1", "B=2", "A", "C=3"])
            .hostname("box")
            .host(test_host()),
    );
    let json = to_json(&spec);
    assert_eq!(
        json["linux"]["resources"]["cpu"],
        json!({"quota": 150000, "period": 100000, "shares": 1024})
    );
    assert_eq!(json["process"]["env"], json!(["B=2", "C=3"]));
    assert_eq!(json["hostname"], "box");
    assert_eq!(json["root"], json!({"path": "rootfs"}));
    assert_eq!(json["linux"]["cgroupsPath"], "/ns/c1");
    assert_eq!(
        replace_or_append_env(
            &["PATH=/bin".to_string(), "HOME=/".to_string()],
            &["HOME".to_string(), "PATH=/usr/bin".to_string()]
        ),
        vec!["PATH=/usr/bin"]
    );
}

#[test]
fn mount_flags_like_ctr() {
    let Ok(m) = parse_mount("type=bind,source=/a,destination=/b,options=rbind:rw") else {
        panic!("parse");
    };
    assert_eq!(m.destination(), Path::new("/b"));
    assert_eq!(m.source().as_deref(), Some(Path::new("/a")));
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(
        m.options().clone(),
        Some(vec!["rbind".to_string(), "rw".to_string()])
    );
    let Ok(m) = parse_mount("type=tmpfs,dst=\"/x,y\"") else {
        panic!("quoted");
    };
    assert_eq!(m.destination(), Path::new("/x,y"));
    for bad in ["type=bind", "src=/a,dst", "type=bind,dst=/b,bogus=1"] {
        assert!(parse_mount(bad).is_err(), "{bad}");
    }
}

#[test]
fn callers_options_apply_after_the_builtins_in_order() {
    let spec = build(
        SpecBuilder::new("ns", "c1")
            .args(["true"])
            .hostname("from-builder")
            .host(test_host())
            .with(|ctx: &SpecContext<'_>, spec: &mut Spec| {
                spec.set_hostname(Some(format!("{}-{}", ctx.namespace, ctx.id)));
                Ok(())
            })
            .with(AddAnnotation("k", "v")),
    );
    assert_eq!(spec.hostname().as_deref(), Some("ns-c1"));
    let annotations = spec.annotations().clone().unwrap_or_default();
    assert_eq!(annotations.get("k").map(String::as_str), Some("v"));
}

/// An option as a type of the caller's, not a closure.
struct AddAnnotation(&'static str, &'static str);

impl SpecOpt for AddAnnotation {
    fn apply(&self, _: &SpecContext<'_>, spec: &mut Spec) -> Result<()> {
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(self.0.to_string(), self.1.to_string());
        spec.set_annotations(Some(annotations));
        Ok(())
    }
}

#[test]
fn a_failing_option_fails_the_build() {
    let built = SpecBuilder::new("ns", "c1")
        .host(test_host())
        .with(|_: &SpecContext<'_>, _: &mut Spec| Err(Error::InvalidArgument("no".to_string())))
        .build();
    assert!(matches!(built, Err(Error::InvalidArgument(_))));
}
