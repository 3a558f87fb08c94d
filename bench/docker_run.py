#!/usr/bin/env python3
"""`docker run --rm busybox true` through crated and through containerd, in
one invocation: Debian's dockerd 20.10 runs on a private data root, exec
root and socket with `--containerd` pointed first at containerd (Debian's
1.6.20, its Go shim) and then at crated (our shim), each on a private root,
state and socket under --dir. The image is busybox-static in a one-layer
`docker save` archive, loaded with `docker load`. After one warm-up run,
each daemon gets --runs timed runs; the report gives the median and p99 and
the crated/containerd ratio (lower is better).

Needs root, docker.io, containerd, runc and busybox-static (see
scripts/install-deps.sh). Every process it starts is stopped by its PID.
"""

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

from compare import build_rootfs, pct, start_daemon, stop_process, timed

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"
# dockerd creates its plugin directory here whatever its exec root.
PLUGINS_DIR = "/run/docker/plugins"
IMAGE = "bench/busybox:latest"


def docker_save_tar(rootfs, path):
    """A one-layer `docker save` archive of the directory `rootfs`."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        t.add(rootfs, arcname=".")
    layer = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id[7:] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE], "Layers": [layer_name]}]).encode()
    with tarfile.open(path, "w") as out:
        for name, data in [("manifest.json", manifest), (config_name, config), (layer_name, layer)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


class Dockerd:
    def __init__(self, base, containerd_sock):
        os.makedirs(base, exist_ok=True)
        self.base = base
        self.sock = os.path.join(base, "docker.sock")
        with open(os.path.join(base, "daemon.json"), "w") as f:
            f.write("{}\n")
        self.log = open(os.path.join(base, "dockerd.log"), "w")
        argv = [DOCKERD, "--config-file", os.path.join(base, "daemon.json"), "--containerd", containerd_sock,
                "--data-root", os.path.join(base, "data"), "--exec-root", os.path.join(base, "exec"),
                "--pidfile", os.path.join(base, "docker.pid"), "-H", f"unix://{self.sock}",
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        for _ in range(600):
            if os.path.exists(self.sock) and self.docker("version", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dockerd did not start; see {base}/dockerd.log")

    def docker(self, *args, check=True, timeout=120):
        env = dict(os.environ, DOCKER_CONFIG=os.path.join(self.base, "client"))
        return subprocess.run([DOCKER, "--host", f"unix://{self.sock}", *args], capture_output=True,
                              text=True, check=check, timeout=timeout, env=env)

    def stop(self):
        stop_process(self.proc, 30)
        self.log.close()
        # Unmount what dockerd left (its overlay layers), deepest first.
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for mp in sorted((p for p in points if p.startswith(self.base + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)


def bench(name, binary, base, tar, runs):
    d = start_daemon(name, binary, base)
    try:
        docker = Dockerd(os.path.join(base, "docker"), d.sock)
        try:
            docker.docker("load", "-i", tar)
            docker.docker("run", "--rm", IMAGE, "true")
            lat = [timed(lambda: docker.docker("run", "--rm", IMAGE, "true")) for _ in range(runs)]
        finally:
            docker.stop()
    finally:
        d.stop()
    return statistics.median(lat), pct(lat, 99)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--crated", default="/var/tmp/crated-target/release/crated",
                    help="crated binary, with containerd-shim-crated-v1 beside it (default: the release build)")
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="crated-bench-docker-", dir="/var/tmp")
    rootfs = os.path.join(work, "rootfs")
    build_rootfs(rootfs)
    tar = os.path.join(work, "busybox.tar")
    docker_save_tar(rootfs, tar)
    had_run_dir = os.path.exists(os.path.dirname(PLUGINS_DIR))
    results = {}
    for name, binary in [("containerd", "containerd"), ("crated", args.crated)]:
        results[name] = bench(name, binary, os.path.join(work, name), tar, args.runs)
    if not had_run_dir:
        for d in [PLUGINS_DIR, os.path.dirname(PLUGINS_DIR)]:
            try:
                os.rmdir(d)
            except OSError:
                pass
    (cm, cp), (xm, xp) = results["containerd"], results["crated"]
    print(f"filesystem: {subprocess.run(['stat', '-f', '-c', '%T', work], capture_output=True, text=True).stdout.strip()} ({work})")
    print(f"crated: {args.crated}\n")
    print("| measure | containerd | crated | crated/containerd |")
    print("| --- | --- | --- | --- |")
    print(f"| docker run --rm busybox true, median of {args.runs} (s) | {cm:.3f} | {xm:.3f} | {xm / cm:.2f} |")
    print(f"| docker run --rm busybox true, p99 of {args.runs} (s) | {cp:.3f} | {xp:.3f} | {xp / cp:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
