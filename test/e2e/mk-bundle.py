#!/usr/bin/env python3
"""Writes an OCI bundle (config.json like `runc spec`, non-terminal) around a rootfs copy.

usage: mk-bundle.py ROOTFS BUNDLE ARGS_JSON [--annotation K=V ...] [--mount SRC:DST[:ro]]
                    [--cgroups-path PATH]
"""
import argparse, json, os, shutil

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

p = argparse.ArgumentParser()
p.add_argument("rootfs"); p.add_argument("bundle"); p.add_argument("args")
p.add_argument("--annotation", action="append", default=[])
p.add_argument("--mount", action="append", default=[])
p.add_argument("--cgroups-path", help="linux.cgroupsPath (runc's default is /ID)")
a = p.parse_args()
shutil.rmtree(a.bundle, ignore_errors=True)
shutil.copytree(a.rootfs, os.path.join(a.bundle, "rootfs"), symlinks=True)
mounts = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
]
for m in a.mount:
    src, dst, *ro = m.split(":")
    mounts.append({"destination": dst, "type": "bind", "source": src,
                   "options": ["rbind", "ro" if ro else "rw"]})
spec = {
    "ociVersion": "1.0.2",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": json.loads(a.args),
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "cwd": "/", "noNewPrivileges": True,
                "capabilities": {k: CAPS for k in ("bounding", "effective", "permitted")},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
    "root": {"path": "rootfs", "readonly": False},
    "hostname": "runwasm-e2e",
    "mounts": mounts,
    "annotations": dict(kv.split("=", 1) for kv in a.annotation),
    "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
              "resources": {"devices": [{"allow": False, "access": "rwm"}]},
              "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
              "readonlyPaths": ["/proc/bus", "/proc/sys", "/proc/sysrq-trigger"]},
}
if a.cgroups_path:
    spec["linux"]["cgroupsPath"] = a.cgroups_path
with open(os.path.join(a.bundle, "config.json"), "w") as f:
    json.dump(spec, f, indent=1)
