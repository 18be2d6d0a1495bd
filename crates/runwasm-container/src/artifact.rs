//! The module of an OCI Wasm artifact. Its layer is never unpacked into the rootfs: the
//! caller that reads the engine's content store (the shim) writes the layer's bytes, checked
//! against its digest, to `<bundle>/wasm-layers/module.wasm`, beside config.json and as
//! trusted as it. `create` then runs that module whatever the rootfs holds. With it may come
//! the module's native artifact (an image's precompiled layer, which the shim passes on only
//! when the operator trusts images' native code): `precompiled.cwasm` and the engine
//! configuration it was built for, `precompiled.engine`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use runwasm_wasm::PrecompiledSeed;

use crate::error::ContainerError;

const LAYERS_DIR: &str = "wasm-layers";
const MODULE_FILE: &str = "module.wasm";
const PRECOMPILED_FILE: &str = "precompiled.cwasm";
const PRECOMPILED_ENGINE_FILE: &str = "precompiled.engine";

/// What a caller supplied for an OCI Wasm artifact.
pub struct ArtifactModule {
    pub module: Vec<u8>,
    pub precompiled: Option<PrecompiledSeed>,
}

pub fn module_path(bundle: &Path) -> PathBuf {
    bundle.join(LAYERS_DIR).join(MODULE_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the artifact's module, and its precompiled artifact if any, into the bundle
/// (readable by root only).
pub fn write(
    bundle: &Path,
    module: &[u8],
    precompiled: Option<&PrecompiledSeed>,
) -> Result<(), ContainerError> {
    let dir = bundle.join(LAYERS_DIR);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(io_err(&dir))?;
    if let Some(seed) = precompiled {
        write_new(&dir.join(PRECOMPILED_FILE), &seed.artifact)?;
        write_new(&dir.join(PRECOMPILED_ENGINE_FILE), seed.engine.as_bytes())?;
    }
    // the module last: its presence says the rest is complete
    write_new(&dir.join(MODULE_FILE), module)
}

fn write_new(path: &Path, data: &[u8]) -> Result<(), ContainerError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(data).map_err(io_err(path))
}

/// The bundle's artifact module and precompiled artifact, if its caller supplied them.
pub fn read(bundle: &Path) -> Result<Option<ArtifactModule>, ContainerError> {
    let limit = runwasm_wasm::limits::max_module_bytes();
    let Some(module) = read_bounded(
        &module_path(bundle),
        limit,
        runwasm_wasm::limits::MODULE_MAX_ENV,
    )?
    else {
        return Ok(None);
    };
    let dir = bundle.join(LAYERS_DIR);
    let artifact = read_bounded(
        &dir.join(PRECOMPILED_FILE),
        runwasm_wasm::limits::max_cache_bytes(),
        runwasm_wasm::limits::CACHE_MAX_ENV,
    )?;
    let engine = read_bounded(&dir.join(PRECOMPILED_ENGINE_FILE), 256, "engine name")?;
    let precompiled = match (artifact, engine) {
        (Some(artifact), Some(engine)) => Some(PrecompiledSeed {
            engine: String::from_utf8_lossy(&engine).into_owned(),
            artifact,
        }),
        _ => None,
    };
    Ok(Some(ArtifactModule {
        module,
        precompiled,
    }))
}

/// A file the caller wrote into the bundle, read with a bound of `limit` bytes (`what`
/// names the limit in errors); `None` when it is absent.
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Option<Vec<u8>>, ContainerError> {
    let path = path.to_path_buf();
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let meta = file.metadata().map_err(io_err(&path))?;
    if !meta.is_file() {
        return Err(ContainerError::InvalidConfig {
            path,
            reason: "not a regular file".into(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    (&file as &File)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(&path))?;
    if bytes.len() as u64 > limit {
        return Err(ContainerError::InvalidConfig {
            path,
            reason: format!("larger than the limit of {limit} bytes ({what})"),
        });
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_module_is_read_back_within_the_bound() {
        let bundle = tempfile::tempdir().unwrap();
        assert!(read(bundle.path()).unwrap().is_none());
        let seed = PrecompiledSeed {
            engine: "e1".into(),
            artifact: b"native".to_vec(),
        };
        write(bundle.path(), b"\0asm\x01\0\0\0", Some(&seed)).unwrap();
        let got = read(bundle.path()).unwrap().unwrap();
        assert_eq!(got.module, b"\0asm\x01\0\0\0");
        let pre = got.precompiled.unwrap();
        assert_eq!(
            (pre.engine.as_str(), pre.artifact.as_slice()),
            ("e1", &b"native"[..])
        );
        let err = read_bounded(&module_path(bundle.path()), 4, "X")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("larger than the limit of 4 bytes (X)"),
            "{err}"
        );
        // written once: a second writer cannot replace it
        assert!(write(bundle.path(), b"other", None).is_err());
    }

    #[test]
    fn a_symlinked_module_is_refused() {
        let bundle = tempfile::tempdir().unwrap();
        fs::create_dir(bundle.path().join(LAYERS_DIR)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", module_path(bundle.path())).unwrap();
        assert!(read(bundle.path()).is_err());
    }
}
