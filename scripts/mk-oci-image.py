#!/usr/bin/env python3
"""Packs a root filesystem directory into one image tarball that is at the same time an OCI
image layout and a `docker save` archive, so `ctr image import`, `podman load` and
`docker load` all accept it. No registry, no builder: tar, sha256 and JSON.

usage: mk-oci-image.py ROOTFS NAME:TAG OUT.tar [--entrypoint JSON] [--cmd JSON]
                       [--platform OS/ARCH] [--annotation KEY=VALUE ...]
"""
import argparse, hashlib, io, json, os, tarfile

def layer_tar(rootfs):
    """A deterministic uncompressed tar of rootfs (its digest is also its diff id)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()

def full_name(name):
    repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    first = repo.split("/")[0]
    if "/" not in repo:
        repo = "docker.io/library/" + repo
    elif "." not in first and ":" not in first and first != "localhost":
        repo = "docker.io/" + repo
    return repo, tag

def main():
    p = argparse.ArgumentParser()
    p.add_argument("rootfs"); p.add_argument("name"); p.add_argument("out")
    p.add_argument("--entrypoint", default="[]"); p.add_argument("--cmd", default="[]")
    p.add_argument("--platform", default="linux/amd64")
    p.add_argument("--annotation", action="append", default=[])
    a = p.parse_args()
    os_, arch = a.platform.split("/")
    repo, tag = full_name(a.name)
    blobs = {}
    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest
    layer = layer_tar(a.rootfs)
    layer_digest = blob(layer)
    config = {"created": "1970-01-01T00:00:00Z", "architecture": arch, "os": os_,
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_digest]}}
    for key, value in (("Entrypoint", a.entrypoint), ("Cmd", a.cmd)):
        if json.loads(value):
            config["config"][key] = json.loads(value)
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_digest = blob(config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + config_digest, "size": len(config_bytes)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": "sha256:" + layer_digest, "size": len(layer)}]}
    annotations = dict(kv.split("=", 1) for kv in a.annotation)
    if annotations:
        manifest["annotations"] = annotations
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = blob(manifest_bytes)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": manifest["mediaType"], "digest": "sha256:" + manifest_digest,
                            "size": len(manifest_bytes), "platform": {"architecture": arch, "os": os_},
                            "annotations": {"io.containerd.image.name": f"{repo}:{tag}",
                                            "org.opencontainers.image.ref.name": tag}}]}
    short = repo.removeprefix("docker.io/library/") + ":" + tag
    docker = [{"Config": "blobs/sha256/" + config_digest, "RepoTags": [short],
               "Layers": ["blobs/sha256/" + layer_digest]}]
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
             "index.json": json.dumps(index).encode(), "manifest.json": json.dumps(docker).encode()}
    files.update({"blobs/sha256/" + d: data for d, data in blobs.items()})
    with tarfile.open(a.out, "w") as tar:
        for name in ["blobs", "blobs/sha256"]:
            info = tarfile.TarInfo(name); info.type = tarfile.DIRTYPE; info.mode = 0o755
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name); info.size = len(files[name]); info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    print(f"{a.out}: {repo}:{tag} ({a.platform})")

if __name__ == "__main__":
    main()
