//! The media types and annotations of Wasm images, shared by the writer (`runwasm image`)
//! and the readers (the shim reading containerd's content store).

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The CNCF TAG Runtime Wasm artifact config.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// A Wasm module or component, as a layer of its own (CNCF TAG Runtime layout).
pub const WASM_LAYER: &str = "application/wasm";
/// runwasi's layer media type for the same thing (images built by its oci-tar-builder).
pub const RUNWASI_WASM_LAYER: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
/// The module compiled ahead of time by `runwasm image build --precompile`.
pub const PRECOMPILED_LAYER: &str = "application/vnd.runwasm.wasm.precompiled.v1";

/// Layer media types whose blob is a Wasm binary to run.
pub const WASM_LAYER_TYPES: &[&str] = &[WASM_LAYER, RUNWASI_WASM_LAYER];

/// The file name of a layer (OCI annotation).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// The engine configuration a precompiled layer was compiled for.
pub const ANNOTATION_ENGINE: &str = "run.runwasm.engine";
/// The sha256 digest of the module a precompiled layer was compiled from.
pub const ANNOTATION_MODULE_DIGEST: &str = "run.runwasm.module.digest";
