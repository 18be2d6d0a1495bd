#!/usr/bin/env python3
"""Writes an image that pairs one artifact's module with another artifact's precompiled
layer (still annotated as compiled from the first module), as a malicious image author
could: running it shows whether the precompiled layer, not the module, is what runs.

usage: forge-precompiled.py MODULE_IMAGE.tar PRECOMPILED_FROM.tar NAME:TAG OUT.tar"""
import hashlib, io, json, sys, tarfile

def load(path):
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}

def manifest_of(files):
    entry = json.loads(files["index.json"])["manifests"][0]
    return json.loads(files["blobs/sha256/" + entry["digest"][7:]])

target, donor, name, out = sys.argv[1:5]
files, donor_files = load(target), load(donor)
manifest = manifest_of(files)
pre = next(l for l in manifest_of(donor_files)["layers"] if l["mediaType"].endswith("precompiled.v1"))
mine = next(l for l in manifest["layers"] if l["mediaType"].endswith("precompiled.v1"))
mine["digest"], mine["size"] = pre["digest"], pre["size"]
blob = "blobs/sha256/" + pre["digest"][7:]
files[blob] = donor_files[blob]
data = json.dumps(manifest).encode()
digest = "sha256:" + hashlib.sha256(data).hexdigest()
files["blobs/sha256/" + digest[7:]] = data
index = json.loads(files["index.json"])
index["manifests"][0].update(digest=digest, size=len(data))
index["manifests"][0]["annotations"]["io.containerd.image.name"] = name
files["index.json"] = json.dumps(index).encode()
with tarfile.open(out, "w") as t:
    for n, d in sorted(files.items()):
        info = tarfile.TarInfo(n); info.size = len(d); t.addfile(info, io.BytesIO(d))
