//! OCI image layouts for Wasm, written without a registry or a builder: the tarball that
//! `runwasm image build` writes, loadable by `ctr image import`, `docker load`, `podman load`
//! and skopeo (`oci-archive:`). Two shapes:
//!
//! - a **platform image**: one ordinary tar layer holding the module (and any extra files),
//!   platform `wasip1/wasm`, `wasip2/wasm` or what the caller names (`wasi/wasm` for Docker);
//!   every engine runs it, the module is a file of the rootfs.
//! - an **OCI Wasm artifact** (the CNCF TAG Runtime layout): the module is a layer of media
//!   type `application/wasm`, never unpacked; the runtime reads it from the engine's content
//!   store. Extra files go into one ordinary tar layer. The config is either an OCI image
//!   config (which every containerd client can run, `ctr run` included) or the layout's own
//!   `application/vnd.wasm.config.v0+json` (which registries and Wasm tooling expect, and which
//!   containerd's `ctr run` refuses: only CRI runs it).

pub mod media_types;
mod tarball;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use media_types::*;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the image: {0}")]
    Write(#[source] std::io::Error),
    #[error("{0} is not a Wasm binary (no \\0asm header)")]
    NotWasm(String),
    #[error("invalid {what} '{value}': {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// What kind of image to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// The module in a tar layer, as a file of the rootfs.
    Platform,
    /// The module as an `application/wasm` layer, with an OCI image config.
    Artifact,
    /// The module as an `application/wasm` layer, with the Wasm artifact config media type.
    WasmConfigArtifact,
}

/// A native artifact compiled from the module ahead of time, for one engine configuration.
#[derive(Debug, Clone)]
pub struct Precompiled {
    pub bytes: Vec<u8>,
    /// The engine configuration it was compiled for (the runtime compares it with its own).
    pub engine: String,
}

/// Everything `build` needs; the CLI fills it from its arguments.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// NAME[:TAG]; completed as docker does (`hello` is `docker.io/library/hello:latest`).
    pub name: String,
    pub module: Vec<u8>,
    /// The module's path in the container (the entrypoint), e.g. `/app.wasm`.
    pub module_path: String,
    pub kind: ImageKind,
    /// (os, architecture); `None`: `wasip1/wasm` for a module, `wasip2/wasm` for a component.
    pub platform: Option<(String, String)>,
    /// Arguments after the entrypoint (the image's CMD).
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    /// (host path, path in the container): a file or a directory tree, links kept as links.
    pub files: Vec<(PathBuf, String)>,
    pub precompiled: Option<Precompiled>,
}

/// One blob of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The full reference, e.g. `docker.io/library/hello:latest`.
    pub reference: String,
    pub platform: String,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// `docker.io/library/NAME:latest` completion, as docker and containerd do it.
pub fn full_reference(name: &str) -> Result<(String, String), ImageError> {
    let invalid = |reason| ImageError::Invalid {
        what: "image name",
        value: name.to_string(),
        reason,
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repo, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], tag),
        None => (name, "latest"),
    };
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c);
    if repo.is_empty() || !repo.chars().all(allowed) || repo.ends_with('/') {
        return Err(invalid(
            "use lowercase letters, digits, '.', '_', '-' and '/'",
        ));
    }
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(invalid("a tag is up to 128 letters, digits, '.', '_', '-'"));
    }
    let first = repo.split('/').next().unwrap_or(repo);
    let repo = if !repo.contains('/') {
        format!("docker.io/library/{repo}")
    } else if !first.contains('.') && !first.contains(':') && first != "localhost" {
        format!("docker.io/{repo}")
    } else {
        repo.to_string()
    };
    Ok((repo, tag.to_string()))
}

/// Whether the binary is a component (the `layer` half of its version field is 1).
fn is_component(module: &[u8]) -> bool {
    module.get(6..8) == Some(&[1, 0])
}

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The blobs of a layout, by digest, in the order they were added.
#[derive(Default)]
struct Blobs(Vec<(String, Vec<u8>)>);

impl Blobs {
    fn add(&mut self, media_type: &str, data: Vec<u8>) -> Descriptor {
        let digest = sha256(&data);
        let size = data.len() as u64;
        if !self.0.iter().any(|(d, _)| *d == digest) {
            self.0.push((digest.clone(), data));
        }
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
        }
    }
}

fn descriptor_json(d: &Descriptor, annotations: Option<&BTreeMap<String, String>>) -> Value {
    let mut v = json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size});
    if let Some(a) = annotations.filter(|a| !a.is_empty()) {
        v["annotations"] = json!(a);
    }
    v
}

/// Writes the image of `req` as one tarball to `out`.
pub fn build(req: &ImageRequest, out: impl Write) -> Result<BuiltImage, ImageError> {
    if !req.module.starts_with(b"\0asm") {
        return Err(ImageError::NotWasm(req.module_path.clone()));
    }
    if !req.module_path.starts_with('/') || req.module_path.ends_with('/') {
        return Err(ImageError::Invalid {
            what: "entrypoint",
            value: req.module_path.clone(),
            reason: "it must be an absolute file path",
        });
    }
    let (repo, tag) = full_reference(&req.name)?;
    let (os, arch) = req.platform.clone().unwrap_or_else(|| {
        let os = if is_component(&req.module) {
            "wasip2"
        } else {
            "wasip1"
        };
        (os.to_string(), "wasm".to_string())
    });
    let mut blobs = Blobs::default();
    let mut layers = Vec::new();
    let mut layer_annotations = Vec::new();
    // diff ids of the tar layers (what containerd unpacks into the rootfs)
    let mut diff_ids = Vec::new();
    let mut files = req.files.clone();
    if req.kind == ImageKind::Platform {
        files.insert(0, (PathBuf::new(), req.module_path.clone()));
    } else {
        let mut a = BTreeMap::new();
        a.insert(
            ANNOTATION_TITLE.to_string(),
            req.module_path.trim_start_matches('/').to_string(),
        );
        layers.push(blobs.add(WASM_LAYER, req.module.clone()));
        layer_annotations.push(a);
    }
    if !files.is_empty() {
        let tar = tarball::layer(&files, &req.module)?;
        let layer = blobs.add(OCI_LAYER_TAR, tar);
        diff_ids.push(layer.digest.clone());
        layers.push(layer);
        layer_annotations.push(BTreeMap::new());
    }
    if let Some(pre) = &req.precompiled {
        let mut a = BTreeMap::new();
        a.insert(ANNOTATION_ENGINE.to_string(), pre.engine.clone());
        a.insert(ANNOTATION_MODULE_DIGEST.to_string(), sha256(&req.module));
        layers.push(blobs.add(PRECOMPILED_LAYER, pre.bytes.clone()));
        layer_annotations.push(a);
    }
    let layer_digests: Vec<&str> = layers
        .iter()
        .filter(|l| l.media_type == WASM_LAYER)
        .map(|l| l.digest.as_str())
        .collect();
    let created = "1970-01-01T00:00:00Z";
    let (config_type, config) = match req.kind {
        ImageKind::WasmConfigArtifact => (
            WASM_CONFIG,
            json!({"created": created, "architecture": arch, "os": os,
                   "layerDigests": layer_digests}),
        ),
        _ => {
            let mut run = json!({"Entrypoint": [req.module_path], "WorkingDir": "/"});
            if !req.args.is_empty() {
                run["Cmd"] = json!(req.args);
            }
            if !req.env.is_empty() {
                run["Env"] = json!(req.env);
            }
            let mut config = json!({"created": created, "architecture": arch, "os": os,
                "config": run, "rootfs": {"type": "layers", "diff_ids": diff_ids}});
            if req.kind == ImageKind::Artifact {
                config["layerDigests"] = json!(layer_digests);
            }
            (OCI_CONFIG, config)
        }
    };
    let config = blobs.add(config_type, serde_json::to_vec(&config).expect("json"));
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor_json(&config, None),
        "layers": layers.iter().zip(&layer_annotations)
            .map(|(l, a)| descriptor_json(l, Some(a))).collect::<Vec<_>>(),
    });
    if req.kind == ImageKind::WasmConfigArtifact {
        manifest["artifactType"] = json!(WASM_CONFIG);
    }
    if !req.annotations.is_empty() {
        manifest["annotations"] = json!(req.annotations);
    }
    let manifest = blobs.add(OCI_MANIFEST, serde_json::to_vec(&manifest).expect("json"));
    let reference = format!("{repo}:{tag}");
    let mut index_entry = descriptor_json(&manifest, None);
    index_entry["platform"] = json!({"architecture": arch, "os": os});
    index_entry["annotations"] = json!({
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [index_entry]});
    let mut extra = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        (
            "index.json".to_string(),
            serde_json::to_vec(&index).expect("json"),
        ),
    ];
    if req.kind == ImageKind::Platform {
        // `docker load` of Docker without the containerd image store reads this file
        let short = reference.strip_prefix("docker.io/").unwrap_or(&reference);
        let short = short.strip_prefix("library/").unwrap_or(short);
        let docker = json!([{
            "Config": format!("blobs/sha256/{}", &config.digest[7..]),
            "RepoTags": [short],
            "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", &l.digest[7..])).collect::<Vec<_>>(),
        }]);
        extra.push((
            "manifest.json".to_string(),
            serde_json::to_vec(&docker).expect("json"),
        ));
    }
    tarball::layout(out, &blobs.0, &extra).map_err(ImageError::Write)?;
    Ok(BuiltImage {
        reference,
        platform: format!("{os}/{arch}"),
        manifest,
        config,
        layers,
    })
}

#[cfg(test)]
mod tests;
