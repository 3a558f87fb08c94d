#!/usr/bin/env python3
"""Side-by-side benchmark of crated and containerd, driven by containerd's
`ctr` against both daemons in one run, so the client is the same.

Measures, on one private root/state per daemon (under --dir, default a new
directory in /var/tmp so both use the same filesystem):
  - daemon RSS idle (after start),
  - `ctr run --rm --rootfs <busybox> true` latency, median and p99 over N,
  - `ctr images import` + unpack of a generated multi-layer image,
  - `ctr images pull --plain-http` of that image from a local registry,
  - `cratectl images pull --plain-http` (crated's own client, through the
    Transfer service) of the same image, against both daemons (n/a where
    the daemon's Transfer service refuses it),
  - daemon RSS and per-shim RSS/PSS with M containers running,
  - the floor: the same bundle run with `runc run` directly.
Prints a Markdown report with crated/containerd ratios.

Needs root, containerd, runc, busybox-static and docker-registry (see
scripts/install-deps.sh). Every process it starts is stopped by its PID.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children_named(prefix):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0).startswith(prefix):
            out.append(int(pid))
    return out


def stop_process(proc, timeout=10):
    """SIGTERM to `proc` (by its PID), SIGKILL if it is still there after
    `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_daemon(name, binary, base):
    """Starts containerd or crated (`binary`) on a private root, state,
    socket and opt directory under `base`; returns the running Daemon."""
    os.makedirs(base, exist_ok=True)
    sock = os.path.join(base, "d.sock")
    cfg = os.path.join(base, "config.toml")
    with open(cfg, "w") as f:
        f.write(f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\naddress = "{sock}"\n'
                f'[ttrpc]\naddress = "{sock}.ttrpc"\n'
                f'[plugins."io.containerd.internal.v1.opt"]\npath = "{base}/opt"\n')
    return Daemon(name, [binary, "-c", cfg], sock, os.path.join(base, "log"))


class Daemon:
    def __init__(self, name, argv, sock, log):
        self.name, self.sock = name, sock
        self.log = open(log, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(sock) and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not start; see {log}")

    def ctr(self, *args, check=True, timeout=120):
        return subprocess.run(["ctr", "-a", self.sock, *args], capture_output=True, text=True, check=check, timeout=timeout)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def build_rootfs(path):
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    for d in ["proc", "dev", "sys", "tmp", "etc"]:
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(path, "bin/busybox"))
    for c in ["sh", "true", "sleep", "echo"]:
        link = os.path.join(path, "bin", c)
        if not os.path.lexists(link):
            os.symlink("busybox", link)


def build_image(path, layers, files_per_layer, name="docker.io/library/bench:1", config=None):
    """An OCI layout tar named `name`: busybox plus `layers` layers of small
    files; `config` is the image config's `config` object (default: Cmd sh)."""
    import gzip
    import hashlib
    import io
    import tarfile

    def sha(b):
        return "sha256:" + hashlib.sha256(b).hexdigest()

    blobs, descs, diff_ids = {}, [], []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            if i == 0:
                for d in ["bin", "etc", "tmp", "proc", "sys", "dev"]:
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(ti)
                t.add("/bin/busybox", arcname="bin/busybox")
                for c in ["sh", "true", "sleep", "echo", "cat"]:
                    ti = tarfile.TarInfo("bin/" + c)
                    ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
                    t.addfile(ti)
            ti = tarfile.TarInfo(f"data{i}")
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
            for j in range(files_per_layer):
                data = (f"layer {i} file {j}\n" * 8).encode()
                ti = tarfile.TarInfo(f"data{i}/f{j}")
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        raw = buf.getvalue()
        gz = gzip.compress(raw, mtime=0)
        blobs[sha(gz)] = gz
        diff_ids.append(sha(raw))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": config or {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    blobs[sha(config)] = config
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
                           "layers": descs}).encode()
    blobs[sha(manifest)] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": sha(manifest), "size": len(manifest),
                        "annotations": {"io.containerd.image.name": name}}]}).encode()
    with tarfile.open(path, "w") as out:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            out.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for d, b in blobs.items():
            add("blobs/sha256/" + d[7:], b)


def timed(fn):
    # Flush dirty pages first, so one phase (or the other daemon) does not
    # pay for the write-back of the previous one.
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pct(values, p):
    values = sorted(values)
    k = min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))
    return values[k]


def bench_daemon(d, work, args, registry):
    res = {"idle_rss_kib": rss_kib(d.proc.pid)}
    rootfs = os.path.join(work, "rootfs")
    lat = []
    for i in range(args.runs):
        lat.append(timed(lambda: d.ctr("run", "--rm", "--rootfs", rootfs, f"lat{i}", "/bin/true")))
    res["run_median_s"] = statistics.median(lat)
    res["run_p99_s"] = pct(lat, 99)
    res["import_s"] = timed(lambda: d.ctr("images", "import", args.image_tar))
    d.ctr("images", "tag", "docker.io/library/bench:1", f"127.0.0.1:{registry}/bench:1")
    d.ctr("images", "push", "--plain-http", f"127.0.0.1:{registry}/bench:1", timeout=300)
    d.ctr("images", "rm", "--sync", "docker.io/library/bench:1", f"127.0.0.1:{registry}/bench:1")
    res["pull_s"] = timed(lambda: d.ctr("images", "pull", "--plain-http", f"127.0.0.1:{registry}/bench:1", timeout=300))
    res["cratectl_pull_s"] = cratectl_pull(d, args.cratectl, f"127.0.0.1:{registry}/bench:1")
    from concurrent.futures import ThreadPoolExecutor

    def start(i):
        d.ctr("run", "-d", "--rootfs", rootfs, f"par{i}", "/bin/sleep", "600")

    def start_all():
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(start, range(args.parallel)))

    res["parallel_start_s"] = timed(start_all)
    shims = [p for p in children_named("containerd-shim") if p != d.proc.pid]
    res["daemon_rss_running_kib"] = rss_kib(d.proc.pid)
    res["shim_rss_kib"] = statistics.mean([rss_kib(p) for p in shims]) if shims else 0
    res["shim_pss_kib"] = statistics.mean([pss_kib(p) for p in shims]) if shims else 0
    for i in range(args.parallel):
        d.ctr("tasks", "kill", "-s", "KILL", f"par{i}", check=False)
    for i in range(args.parallel):
        for _ in range(100):
            if d.ctr("tasks", "rm", f"par{i}", check=False).returncode == 0:
                break
            time.sleep(0.05)
        d.ctr("containers", "rm", f"par{i}", check=False)
    return res


def cratectl_pull(d, cratectl, ref):
    """Seconds of `cratectl images pull --plain-http` of `ref` into an empty
    store (the image `ctr` pulled is removed first), or None if it fails."""
    d.ctr("images", "rm", "--sync", ref, check=False)
    argv = [cratectl, "-a", d.sock, "images", "pull", "--plain-http", "--progress", "none", ref]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        print(f"{d.name}: cratectl images pull failed: {done.stderr.strip()}", file=sys.stderr)
        return None
    return elapsed


def default_cratectl():
    for build in ["release", "debug"]:
        path = f"/var/tmp/crated-target/{build}/cratectl"
        if os.path.exists(path):
            return path
    raise SystemExit("cratectl not found: cargo build --release -p crated-ctl (or pass --cratectl)")


def runc_floor(work, runs):
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle, exist_ok=True)
    if not os.path.exists(os.path.join(bundle, "rootfs")):
        shutil.copytree(os.path.join(work, "rootfs"), os.path.join(bundle, "rootfs"), symlinks=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    lat = [timed(lambda i=i: subprocess.run(["runc", "run", f"floor{i}"], cwd=bundle, check=True, capture_output=True)) for i in range(runs)]
    return statistics.median(lat)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=10)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--crated", default=None, help="crated binary (default: the release build)")
    ap.add_argument("--cratectl", default=None, help="cratectl binary (default: the release build, else the debug one)")
    args = ap.parse_args()
    args.cratectl = args.cratectl or default_cratectl()
    work = args.dir or tempfile.mkdtemp(prefix="crated-bench-", dir="/var/tmp")
    crated = args.crated or os.path.join("/var/tmp/crated-target/release/crated")
    build_rootfs(os.path.join(work, "rootfs"))
    args.image_tar = os.path.join(work, "image.tar")
    build_image(args.image_tar, args.layers, args.files)
    port = free_port()
    reg_dir = os.path.join(work, "registry")
    os.makedirs(reg_dir, exist_ok=True)
    with open(os.path.join(reg_dir, "config.yml"), "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {reg_dir}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", os.path.join(reg_dir, "config.yml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        time.sleep(1)
        for name in ["containerd", "crated"]:
            d = start_daemon(name, "containerd" if name == "containerd" else crated, os.path.join(work, name))
            try:
                results[name] = bench_daemon(d, work, args, port)
            finally:
                d.stop()
        floor = runc_floor(work, args.runs)
    finally:
        registry.send_signal(signal.SIGTERM)
        registry.wait(10)
    c, x = results["containerd"], results["crated"]
    rows = [
        ("daemon RSS idle (KiB)", "idle_rss_kib"),
        (f"run --rm true, median of {args.runs} (s)", "run_median_s"),
        (f"run --rm true, p99 of {args.runs} (s)", "run_p99_s"),
        ("images import + unpack (s)", "import_s"),
        ("images pull --plain-http + unpack (s)", "pull_s"),
        ("pull, crated's own (cratectl images pull, Transfer) (s)", "cratectl_pull_s"),
        (f"{args.parallel} containers started from 8 threads, total (s)", "parallel_start_s"),
        (f"daemon RSS with {args.parallel} running (KiB)", "daemon_rss_running_kib"),
        ("shim RSS per container (KiB)", "shim_rss_kib"),
        ("shim PSS per container (KiB)", "shim_pss_kib"),
    ]
    print(f"filesystem: {subprocess.run(['stat', '-f', '-c', '%T', work], capture_output=True, text=True).stdout.strip()} ({work})")
    print(f"image: {args.layers} layers x {args.files} files; runc run floor median: {floor:.3f} s\n")
    print("| measure | containerd | crated | crated/containerd |")
    print("| --- | --- | --- | --- |")
    for label, key in rows:
        ratio = f"{x[key] / c[key]:.2f}" if c[key] and x[key] is not None else "n/a"
        num = (lambda v: f"{v:.3f}") if key.endswith("_s") else (lambda v: f"{v:.0f}")
        fmt = lambda v: "n/a" if v is None else num(v)  # noqa: E731
        print(f"| {label} | {fmt(c[key])} | {fmt(x[key])} | {ratio} |")
    if x["cratectl_pull_s"] is not None and c["pull_s"]:
        print(f"\ncrated's cratectl pull / containerd's ctr pull: {x['cratectl_pull_s'] / c['pull_s']:.2f}"
              f" (cratectl: {args.cratectl})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
