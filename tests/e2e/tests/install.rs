//! `scripts/install.sh` into a temporary prefix: the binaries, the systemd
//! unit pointing at them, and a default config that crated reads back.
//! Uses the binaries of this build (`--from`) instead of a release build.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crated_e2e::{Cmd, crated_bin};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn install(prefix: &Path, sysconfdir: &Path) -> crated_e2e::Output {
    let from = crated_bin()
        .parent()
        .unwrap_or_else(|| panic!("no parent of the crated binary"))
        .to_path_buf();
    Cmd::new("bash")
        .args([
            repo().join("scripts/install.sh").as_os_str(),
            "--from".as_ref(),
            from.as_os_str(),
            "--prefix".as_ref(),
            prefix.as_os_str(),
            "--sysconfdir".as_ref(),
            sysconfdir.as_os_str(),
        ])
        .timeout(Duration::from_secs(60))
        .run()
}

#[test]
fn install_puts_binaries_unit_and_config_in_place() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let prefix = dir.path().join("usr");
    let etc = dir.path().join("etc");
    install(&prefix, &etc).ok();

    for bin in ["crated", "cratectl", "containerd-shim-crated-v1"] {
        let path = prefix.join("bin").join(bin);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o755, 0o755, "{}", path.display());
    }
    for completion in [
        "share/bash-completion/completions/cratectl",
        "share/zsh/site-functions/_cratectl",
        "share/fish/vendor_completions.d/cratectl.fish",
    ] {
        let path = prefix.join(completion);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.contains("cratectl"), "{}", path.display());
    }
    let unit_path = prefix.join("lib/systemd/system/crated.service");
    let unit = std::fs::read_to_string(&unit_path)
        .unwrap_or_else(|e| panic!("{}: {e}", unit_path.display()));
    let exec = format!("ExecStart={}", prefix.join("bin/crated").display());
    for line in [
        exec.as_str(),
        "Type=notify",
        "Delegate=yes",
        "KillMode=process",
        "OOMScoreAdjust=-999",
        "LimitNOFILE=infinity",
        "Restart=always",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    assert!(prefix.join("share/doc/crated/README.md").is_file());

    let config = etc.join("crated/config.toml");
    let installed = prefix.join("bin/crated");
    Cmd::new(&installed)
        .args([
            "-c".as_ref(),
            config.as_os_str(),
            "config".as_ref(),
            "dump".as_ref(),
        ])
        .run()
        .ok()
        .stdout_has("root = \"/var/lib/crated\"")
        .stderr_lacks("warning");

    // A second install keeps the operator's config.
    std::fs::write(&config, "version = 3\n# mine\n").unwrap_or_else(|e| panic!("write: {e}"));
    install(&prefix, &etc).ok();
    let kept = std::fs::read_to_string(&config).unwrap_or_default();
    assert!(kept.contains("# mine"), "{kept}");
    assert!(etc.join("crated/config.toml.default").is_file());
}
