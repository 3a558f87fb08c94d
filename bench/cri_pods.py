#!/usr/bin/env python3
"""Pod start through the CRI, crated and containerd side by side in one run,
driven by the same client (crates/cri/examples/pod_start.rs, the client
library's CRI wrappers, release build).

For each daemon, on a private root/state under --dir with its CRI plugin
on and a stand-in pause image (busybox sleeping; no registry is reachable):
RunPodSandbox + CreateContainer + StartContainer of a host-network busybox
pod, --runs times in sequence (median, p90), then --parallel pods at once
(total). Host-network pods keep CNI out of the figure. Both run with
`restrict_oom_score_adj = true`: a host without CAP_SYS_RESOURCE (a VM
sandbox, a container) cannot give the pause process containerd's -998. Prints a Markdown
table with crated/containerd ratios.

Needs root, containerd (Debian's, with its CRI plugin), runc and
busybox-static (scripts/install-deps.sh). Every process it starts is
stopped by its PID.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from compare import Daemon, build_image, pct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAUSE = "docker.io/library/bench-pause:1"
IMAGE = "docker.io/library/bench-busybox:1"


def start(name, binary, base):
    """`binary` on a private root, state and socket with the CRI plugin on."""
    os.makedirs(os.path.join(base, "net.d"), exist_ok=True)
    sock = os.path.join(base, "d.sock")
    cfg = os.path.join(base, "config.toml")
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    with open(cfg, "w") as f:
        f.write(f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
                f'[grpc]\naddress = "{sock}"\n[ttrpc]\naddress = "{sock}.ttrpc"\n'
                f'[plugins."io.containerd.internal.v1.opt"]\npath = "{base}/opt"\n'
                f'[{cri}]\nsandbox_image = "{PAUSE}"\nrestrict_oom_score_adj = true\n'
                f'[{cri}.cni]\nbin_dir = "/usr/lib/cni"\nconf_dir = "{base}/net.d"\n')
    return Daemon(name, [binary, "-c", cfg], sock, os.path.join(base, "log"))


def pod_start_bin():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "crated-cri", "--example", "pod_start"],
                   cwd=ROOT, check=True)
    return "/var/tmp/crated-target/release/examples/pod_start"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=30)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--crated", default="/var/tmp/crated-target/release/crated")
    ap.add_argument("--client", default=None, help="the pod_start example binary (default: built with --release)")
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="crated-cri-bench-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    client = args.client or pod_start_bin()
    pause_tar, image_tar = os.path.join(work, "pause.tar"), os.path.join(work, "busybox.tar")
    build_image(pause_tar, 1, 0, PAUSE,
                {"Entrypoint": ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]})
    build_image(image_tar, 1, 0, IMAGE)
    results = {}
    for name, binary in [("containerd", "containerd"), ("crated", args.crated)]:
        d = start(name, binary, os.path.join(work, name))
        try:
            for tar in [pause_tar, image_tar]:
                d.ctr("-n", "k8s.io", "images", "import", tar)
            out = subprocess.run([client, d.sock, IMAGE, str(args.runs), str(args.parallel)],
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                print(f"{name}: {out.stderr.strip()}", file=sys.stderr)
                return 1
            results[name] = json.loads(out.stdout)
        finally:
            d.stop()
    rows = []
    for key, label in [("median", f"pod start, sequential median of {args.runs} (ms)"),
                       ("p90", f"pod start, sequential p90 of {args.runs} (ms)"),
                       ("parallel", f"{args.parallel} pods at once, total (ms)")]:
        vals = []
        for name in ["containerd", "crated"]:
            r = results[name]
            seq = r["sequential_ms"]
            vals.append({"median": statistics.median(seq), "p90": pct(seq, 90),
                         "parallel": r["parallel_total_ms"]}[key])
        rows.append((label, vals[0], vals[1]))
    print("| measure | containerd | crated | crated/containerd |")
    print("| --- | --- | --- | --- |")
    for label, c, x in rows:
        print(f"| {label} | {c:.1f} | {x:.1f} | {x / c:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
