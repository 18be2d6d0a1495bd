#!/usr/bin/env python3
"""Drives conmon 2.1 and a runtime exactly as CRI-O does, for one container.

usage: conmon.py RUNTIME ROOT WORKDIR BUNDLE ID
conmon runs `RUNTIME --root=ROOT create --bundle BUNDLE --pid-file P ID` and reports the pid
on the sync pipe; then, like CRI-O: `RUNTIME --root=ROOT start ID`, wait for conmon's exit
file, `RUNTIME --root=ROOT delete ID`. Prints one JSON object: the sync message, the exit
code, the CRI log file lines, and the delete status.
"""
import json, os, subprocess, sys, time, uuid

runtime, root, work, bundle, cid = sys.argv[1:]
for d in ("exits", "sock", "persist"):
    os.makedirs(os.path.join(work, d), exist_ok=True)
log_path = os.path.join(work, cid + ".log")
read_end, write_end = os.pipe()
os.set_inheritable(write_end, True)
env = dict(os.environ, _OCI_SYNCPIPE=str(write_end))
subprocess.run(
    ["conmon", "--api-version", "1", "--cid", cid, "--cuuid", str(uuid.uuid4()),
     "--name", cid, "--runtime", runtime, "--runtime-arg", "--root=" + root,
     "--bundle", bundle, "--exit-dir", os.path.join(work, "exits"),
     "--log-path", "k8s-file:" + log_path, "--log-level", "info",
     "--container-pidfile", os.path.join(work, cid + ".pid"),
     "--conmon-pidfile", os.path.join(work, "conmon-" + cid + ".pid"),
     "--socket-dir-path", os.path.join(work, "sock"),
     "--persist-dir", os.path.join(work, "persist")],
    env=env, pass_fds=(write_end,), check=True)
os.close(write_end)
sync = os.read(read_end, 65536).decode()
result = {"sync": sync.strip()}
created = json.loads(sync.splitlines()[0]).get("data", -1) > 0
if created:
    start = subprocess.run([runtime, "--root=" + root, "start", cid], capture_output=True, text=True)
    result["start"] = start.returncode
    exit_file = os.path.join(work, "exits", cid)
    for _ in range(200):
        if os.path.exists(exit_file) and open(exit_file).read():
            break
        time.sleep(0.05)
    result["exit"] = open(exit_file).read() if os.path.exists(exit_file) else None
    time.sleep(0.1)  # conmon flushes the log before it exits
    result["log"] = open(log_path).read().splitlines() if os.path.exists(log_path) else []
    delete = subprocess.run([runtime, "--root=" + root, "delete", cid], capture_output=True, text=True)
    result["delete"] = delete.returncode
else:
    result["delete"] = subprocess.run([runtime, "--root=" + root, "delete", "--force", cid],
                                      capture_output=True).returncode
print(json.dumps(result))
