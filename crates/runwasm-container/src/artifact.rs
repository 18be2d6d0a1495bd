//! The module of an OCI Wasm artifact. Its layer is never unpacked into the rootfs: the
//! caller that reads the engine's content store (the shim) writes the layer's bytes, checked
//! against its digest, to `<bundle>/wasm-layers/module.wasm`, beside config.json and as
//! trusted as it. `create` then runs that module whatever the rootfs holds.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::ContainerError;

const LAYERS_DIR: &str = "wasm-layers";
const MODULE_FILE: &str = "module.wasm";

pub fn module_path(bundle: &Path) -> PathBuf {
    bundle.join(LAYERS_DIR).join(MODULE_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the artifact's module into the bundle (readable by root only).
pub fn write_module(bundle: &Path, module: &[u8]) -> Result<(), ContainerError> {
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
    let path = dir.join(MODULE_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io_err(&path))?;
    file.write_all(module).map_err(io_err(&path))
}

/// The artifact module of the bundle, if its caller supplied one, read with a bound of
/// `limit` bytes.
pub fn read_module(bundle: &Path, limit: u64) -> Result<Option<Vec<u8>>, ContainerError> {
    let path = module_path(bundle);
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
            reason: "the artifact module is not a regular file".into(),
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
            reason: format!(
                "the artifact module is larger than the limit of {limit} bytes ({})",
                runwasm_wasm::limits::MODULE_MAX_ENV
            ),
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
        assert!(read_module(bundle.path(), 100).unwrap().is_none());
        write_module(bundle.path(), b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(
            read_module(bundle.path(), 100).unwrap().unwrap(),
            b"\0asm\x01\0\0\0"
        );
        let err = read_module(bundle.path(), 4).unwrap_err().to_string();
        assert!(err.contains("larger than the limit of 4 bytes"), "{err}");
        // written once: a second writer cannot replace it
        assert!(write_module(bundle.path(), b"other").is_err());
    }

    #[test]
    fn a_symlinked_module_is_refused() {
        let bundle = tempfile::tempdir().unwrap();
        fs::create_dir(bundle.path().join(LAYERS_DIR)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", module_path(bundle.path())).unwrap();
        assert!(read_module(bundle.path(), 100).is_err());
    }
}
