//! OCI Wasm artifacts: when a container's image carries its module as an `application/wasm`
//! layer (the CNCF TAG Runtime layout, or runwasi's layer type), containerd does not unpack
//! it; the shim reads it from containerd's content store, as runwasi does, checks it against
//! its digest and hands it to `runwasm create` beside config.json
//! (`runwasm_container::artifact`).
//!
//! A precompiled layer (`runwasm image build --precompile`) is native code from the image.
//! It is passed on only when the operator trusts images' native code
//! (`RUNWASM_TRUST_PRECOMPILED=1` in the shim's environment), and only on a compile-cache
//! miss; wasmtime still checks it was built for this engine configuration.

use std::time::Duration;

use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient,
    images_client::ImagesClient, GetContainerRequest, GetImageRequest, ReadContentRequest,
};
use containerd_client::tonic::{self, Code, Request};
use runwasm_image::media_types::*;
use runwasm_wasm::cache::{CacheKey, CompileCache};
use runwasm_wasm::{limits, PrecompiledSeed, WasmKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A manifest or index blob is small; anything larger is not one.
const MAX_MANIFEST_BYTES: i64 = 4 << 20;
/// The whole lookup: containerd answers in milliseconds; a hung one must not hang Create.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot reach containerd at {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("containerd: {0}")]
    Api(String),
    #[error("blob {digest} of image {image}: {reason}")]
    Blob {
        image: String,
        digest: String,
        reason: String,
    },
    #[error("image {image} has {count} Wasm layers; runwasm runs artifacts of one module")]
    ManyModules { image: String, count: usize },
    #[error("timed out reading the image of container {0} from containerd")]
    Timeout(String),
}

/// The environment switch that lets images' precompiled layers be used.
pub const TRUST_PRECOMPILED_ENV: &str = "RUNWASM_TRUST_PRECOMPILED";

#[derive(Deserialize)]
struct BlobDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: i64,
    platform: Option<Platform>,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
}

#[derive(Deserialize)]
struct Listing {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<BlobDescriptor>,
    #[serde(default)]
    layers: Vec<BlobDescriptor>,
}

/// Where a step of the walk from the image's target leads.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Read this manifest (from an index).
    Manifest(String, i64),
    /// Read this Wasm layer, and maybe its precompiled layer.
    Module {
        digest: String,
        size: i64,
        precompiled: Option<PrecompiledLayer>,
    },
    /// A plain image (or an index without a Wasm manifest): the rootfs holds the program.
    Nothing,
}

/// A precompiled layer that names the module layer it was compiled from.
#[derive(Debug, PartialEq, Eq)]
struct PrecompiledLayer {
    digest: String,
    size: i64,
    engine: String,
}

/// The next blob to read after `blob` (an index or a manifest of `image`).
fn next_step(image: &str, blob: &[u8]) -> Result<Next, ArtifactError> {
    let listing: Listing = serde_json::from_slice(blob).map_err(|e| ArtifactError::Blob {
        image: image.to_string(),
        digest: String::new(),
        reason: format!("not an image index or manifest: {e}"),
    })?;
    let is_index = [OCI_INDEX, DOCKER_MANIFEST_LIST].contains(&listing.media_type.as_str())
        || (listing.media_type.is_empty() && !listing.manifests.is_empty());
    if is_index {
        // an artifact's index names the wasm platform; a lone manifest is taken as is
        let wasm = listing.manifests.iter().find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.architecture == "wasm")
        });
        let pick = wasm.or(match listing.manifests.as_slice() {
            [only] => Some(only),
            _ => None,
        });
        return Ok(match pick {
            Some(m) => Next::Manifest(m.digest.clone(), m.size),
            None => Next::Nothing,
        });
    }
    let modules: Vec<&BlobDescriptor> = listing
        .layers
        .iter()
        .filter(|l| WASM_LAYER_TYPES.contains(&l.media_type.as_str()))
        .collect();
    match modules.as_slice() {
        [] => Ok(Next::Nothing),
        [module] => Ok(Next::Module {
            digest: module.digest.clone(),
            size: module.size,
            precompiled: listing
                .layers
                .iter()
                .filter(|l| l.media_type == PRECOMPILED_LAYER)
                .filter(|l| l.annotations.get(ANNOTATION_MODULE_DIGEST) == Some(&module.digest))
                .find_map(|l| {
                    // the engine name becomes a path in the compile cache: only the form the
                    // engine writes (16 lowercase hex digits) is taken
                    let engine = l.annotations.get(ANNOTATION_ENGINE)?;
                    let well_formed = engine.len() == 16
                        && engine
                            .bytes()
                            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                    well_formed.then(|| PrecompiledLayer {
                        digest: l.digest.clone(),
                        size: l.size,
                        engine: engine.clone(),
                    })
                }),
        }),
        many => Err(ArtifactError::ManyModules {
            image: image.to_string(),
            count: many.len(),
        }),
    }
}

/// containerd's gRPC API, for the images of the shim's namespace.
#[derive(Debug, Clone)]
pub struct ContentStore {
    address: String,
    namespace: String,
    trust_precompiled: bool,
}

/// An artifact's module and, when trusted and useful, its precompiled artifact.
pub type ArtifactContent = (Vec<u8>, Option<PrecompiledSeed>);

impl ContentStore {
    pub fn new(address: String, namespace: String) -> Self {
        let trust_precompiled = std::env::var(TRUST_PRECOMPILED_ENV).is_ok_and(|v| v == "1");
        Self {
            address,
            namespace,
            trust_precompiled,
        }
    }

    /// The Wasm module of container `id`'s image when the image is an OCI Wasm artifact;
    /// `None` for a plain image, a container without an image, or no containerd to ask.
    pub fn wasm_module(
        &self,
        id: &str,
        max_bytes: u64,
    ) -> Result<Option<ArtifactContent>, ArtifactError> {
        if self.address.is_empty() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ArtifactError::Api(format!("tokio runtime: {e}")))?;
        runtime.block_on(async {
            tokio::time::timeout(LOOKUP_TIMEOUT, self.lookup(id, max_bytes))
                .await
                .map_err(|_| ArtifactError::Timeout(id.to_string()))?
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(ns) = self.namespace.parse() {
            request.metadata_mut().insert("containerd-namespace", ns);
        }
        request
    }

    async fn lookup(
        &self,
        id: &str,
        max_bytes: u64,
    ) -> Result<Option<ArtifactContent>, ArtifactError> {
        let address = self.address.trim_start_matches("unix://");
        let channel =
            containerd_client::connect(address)
                .await
                .map_err(|e| ArtifactError::Connect {
                    address: address.to_string(),
                    reason: e.to_string(),
                })?;
        let api = |e: tonic::Status| ArtifactError::Api(e.message().to_string());
        let container = match ContainersClient::new(channel.clone())
            .get(self.request(GetContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(response) => response.into_inner().container,
            // a task without a container record (a test client driving the shim directly)
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(api(status)),
        };
        let image_name = container.map(|c| c.image).unwrap_or_default();
        if image_name.is_empty() {
            return Ok(None);
        }
        let target = ImagesClient::new(channel.clone())
            .get(self.request(GetImageRequest {
                name: image_name.clone(),
            }))
            .await
            .map_err(api)?
            .into_inner()
            .image
            .and_then(|image| image.target);
        let Some(target) = target else {
            return Ok(None);
        };
        let mut content = ContentClient::new(channel);
        let (mut digest, mut size) = (target.digest, target.size);
        // index -> manifest -> layer: at most two manifest-sized reads before the module
        for _ in 0..2 {
            let blob = self
                .read(&mut content, &image_name, &digest, size, MAX_MANIFEST_BYTES)
                .await?;
            match next_step(&image_name, &blob)? {
                Next::Nothing => return Ok(None),
                Next::Manifest(d, s) => (digest, size) = (d, s),
                Next::Module {
                    digest,
                    size,
                    precompiled,
                } => {
                    let limit = i64::try_from(max_bytes).unwrap_or(i64::MAX);
                    let module = self
                        .read(&mut content, &image_name, &digest, size, limit)
                        .await?;
                    tracing::debug!(image = %image_name, layer = %digest, "OCI Wasm artifact");
                    let seed = match precompiled {
                        Some(layer)
                            if self.trust_precompiled && !cached(&module, &layer.engine) =>
                        {
                            let limit =
                                i64::try_from(limits::max_cache_bytes()).unwrap_or(i64::MAX);
                            let artifact = self
                                .read(&mut content, &image_name, &layer.digest, layer.size, limit)
                                .await?;
                            Some(PrecompiledSeed {
                                engine: layer.engine,
                                artifact,
                            })
                        }
                        _ => None,
                    };
                    return Ok(Some((module, seed)));
                }
            }
        }
        Ok(None)
    }

    /// Reads blob `digest` of `size` bytes (at most `limit`) and checks it against its digest.
    async fn read(
        &self,
        content: &mut ContentClient<tonic::transport::Channel>,
        image: &str,
        digest: &str,
        size: i64,
        limit: i64,
    ) -> Result<Vec<u8>, ArtifactError> {
        let blob_err = |reason: String| ArtifactError::Blob {
            image: image.to_string(),
            digest: digest.to_string(),
            reason,
        };
        if size < 0 || size > limit {
            return Err(blob_err(format!(
                "{size} bytes, larger than the limit of {limit} bytes"
            )));
        }
        let mut stream = content
            .read(self.request(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size,
            }))
            .await
            .map_err(|e| blob_err(e.message().to_string()))?
            .into_inner();
        let mut data = Vec::with_capacity(size as usize);
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|e| blob_err(e.message().to_string()))?
        {
            if (data.len() + chunk.data.len()) as i64 > size {
                return Err(blob_err("more bytes than its descriptor says".into()));
            }
            data.extend_from_slice(&chunk.data);
        }
        let actual = format!("sha256:{:x}", Sha256::digest(&data));
        if actual != digest {
            return Err(blob_err(format!("content has digest {actual}")));
        }
        Ok(data)
    }
}

/// Whether the compile cache already holds `module` for `engine`: then the precompiled
/// layer is not worth reading.
fn cached(module: &[u8], engine: &str) -> bool {
    let key = CacheKey::new(module, WasmKind::of(module));
    CompileCache::base_dir_from_env()
        .join(engine)
        .join(key.file_name())
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_leads_to_its_wasm_manifest() {
        let index = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"m","digest":"sha256:linux","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"m","digest":"sha256:wasm","size":2,"platform":{"architecture":"wasm","os":"wasip1"}}]}"#;
        assert_eq!(
            next_step("i", index).unwrap(),
            Next::Manifest("sha256:wasm".into(), 2)
        );
        let one = br#"{"manifests":[{"digest":"sha256:a","size":3,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        assert_eq!(
            next_step("i", one).unwrap(),
            Next::Manifest("sha256:a".into(), 3)
        );
        let many_linux = br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:a","size":1,"platform":{"architecture":"amd64","os":"linux"}},
            {"digest":"sha256:b","size":1,"platform":{"architecture":"arm64","os":"linux"}}]}"#;
        assert_eq!(next_step("i", many_linux).unwrap(), Next::Nothing);
    }

    #[test]
    fn a_manifest_leads_to_its_wasm_layer() {
        for media_type in WASM_LAYER_TYPES {
            let manifest = format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{WASM_CONFIG}","digest":"sha256:c","size":1}},
                "layers":[{{"mediaType":"{media_type}","digest":"sha256:w","size":8}},
                          {{"mediaType":"{OCI_LAYER_TAR}","digest":"sha256:t","size":9}}]}}"#
            );
            assert_eq!(
                next_step("i", manifest.as_bytes()).unwrap(),
                Next::Module {
                    digest: "sha256:w".into(),
                    size: 8,
                    precompiled: None
                }
            );
        }
        let plain = format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"sha256:t","size":9}}]}}"#
        );
        assert_eq!(next_step("i", plain.as_bytes()).unwrap(), Next::Nothing);
    }

    #[test]
    fn a_precompiled_layer_must_name_the_module_layer() {
        let layer = |module_digest: &str, engine: &str| {
            format!(
                r#"{{"layers":[{{"mediaType":"{WASM_LAYER}","digest":"sha256:w","size":8}},
                {{"mediaType":"{PRECOMPILED_LAYER}","digest":"sha256:p","size":9,
                  "annotations":{{"{ANNOTATION_ENGINE}":"{engine}","{ANNOTATION_MODULE_DIGEST}":"{module_digest}"}}}}]}}"#
            )
        };
        let manifest = |module_digest: &str| layer(module_digest, "0123456789abcdef");
        let Next::Module { precompiled, .. } =
            next_step("i", manifest("sha256:w").as_bytes()).unwrap()
        else {
            panic!("no module");
        };
        assert_eq!(
            precompiled,
            Some(PrecompiledLayer {
                digest: "sha256:p".into(),
                size: 9,
                engine: "0123456789abcdef".into()
            })
        );
        // an engine name that would be a path elsewhere in the cache is not taken
        for engine in ["../../../etc", "0123456789ABCDEF", "e1"] {
            let Next::Module { precompiled, .. } =
                next_step("i", layer("sha256:w", engine).as_bytes()).unwrap()
            else {
                panic!("no module");
            };
            assert_eq!(precompiled, None, "engine {engine}");
        }
        let Next::Module { precompiled, .. } =
            next_step("i", manifest("sha256:x").as_bytes()).unwrap()
        else {
            panic!("no module");
        };
        assert_eq!(precompiled, None, "compiled from another module");
    }

    #[test]
    fn two_modules_or_garbage_are_refused_by_name() {
        let two = format!(
            r#"{{"layers":[{{"mediaType":"{WASM_LAYER}","digest":"sha256:a","size":1}},
                           {{"mediaType":"{WASM_LAYER}","digest":"sha256:b","size":1}}]}}"#
        );
        let err = next_step("img", two.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("image img has 2 Wasm layers"), "{err}");
        let err = next_step("img", b"\0asm").unwrap_err().to_string();
        assert!(err.contains("not an image index or manifest"), "{err}");
    }
}
