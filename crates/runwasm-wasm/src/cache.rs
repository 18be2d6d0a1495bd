//! The compile cache: a module is compiled once per (content hash, engine configuration);
//! later starts memory-map the precompiled artifact, so the code pages are shared through the
//! page cache by every container running it.
//!
//! Layout: `DIR/<engine-hash>/<content-hash>.cwasm` plus `<content-hash>.b3`, the BLAKE3 of
//! the artifact. An artifact whose digest does not match, or that wasmtime rejects (another
//! version or configuration), is compiled again and replaced. Writes go to a temporary file in
//! the same directory and are renamed into place, so a reader never sees half an artifact.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::classify::WasmKind;

/// Where `runwasm` and the shim share compiled modules unless `RUNWASM_CACHE_DIR` says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/runwasm/cache";
pub const CACHE_DIR_ENV: &str = "RUNWASM_CACHE_DIR";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache directory {0} is not owned by this user or is writable by others; refusing to trust it")]
    Untrusted(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A cache directory for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// The key of one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn new(wasm: &[u8], kind: WasmKind) -> Self {
        let tag = match kind {
            WasmKind::Module => "m",
            WasmKind::Component => "c",
        };
        Self(format!("{}-{tag}", blake3::hash(wasm).to_hex()))
    }
}

impl CompileCache {
    /// Opens (creating it if needed) the cache for the engine identified by `engine_hash`.
    /// The base directory must belong to the current user and not be writable by others,
    /// because its artifacts are executed as native code.
    pub fn open(base: &Path, engine_hash: &str) -> Result<Self, CacheError> {
        let dir = base.join(engine_hash);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(&dir))?;
        let euid = nix::unistd::geteuid().as_raw();
        for checked in [base, dir.as_path()] {
            let meta = fs::metadata(checked).map_err(io_err(checked))?;
            if meta.uid() != euid || meta.permissions().mode() & 0o022 != 0 {
                return Err(CacheError::Untrusted(checked.to_path_buf()));
            }
        }
        Ok(Self { dir })
    }

    /// The cache directory named by the environment, or the default.
    pub fn base_dir_from_env() -> PathBuf {
        std::env::var_os(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
    }

    pub fn artifact_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.cwasm", key.0))
    }

    fn digest_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.b3", key.0))
    }

    /// Returns the artifact's path if it exists and its digest matches what was written.
    pub fn lookup(&self, key: &CacheKey) -> Option<PathBuf> {
        let artifact = self.artifact_path(key);
        let expected = fs::read_to_string(self.digest_path(key)).ok()?;
        let file = fs::File::open(&artifact).ok()?;
        // SAFETY: the file is only read while mapped; writers replace it by rename and never
        // modify an artifact in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        if blake3::hash(&map).to_hex().as_str() == expected.trim() {
            Some(artifact)
        } else {
            tracing::warn!(artifact = %artifact.display(), "cache entry is corrupt; recompiling");
            None
        }
    }

    /// Stores `artifact` under `key` atomically and returns its path.
    pub fn store(&self, key: &CacheKey, artifact: &[u8]) -> Result<PathBuf, CacheError> {
        let digest = blake3::hash(artifact).to_hex();
        // the digest goes first: a reader that finds a new artifact with an old digest
        // recompiles, it never trusts a mismatch
        self.write_atomic(&self.digest_path(key), digest.as_bytes())?;
        let path = self.artifact_path(key);
        self.write_atomic(&path, artifact)?;
        Ok(path)
    }

    /// Drops an entry that the engine refused to load.
    pub fn evict(&self, key: &CacheKey) {
        let _ = fs::remove_file(self.artifact_path(key));
        let _ = fs::remove_file(self.digest_path(key));
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io_err(&self.dir))?;
        tmp.write_all(bytes).map_err(io_err(path))?;
        tmp.as_file().sync_data().map_err(io_err(path))?;
        tmp.persist(path).map_err(|e| CacheError::Io {
            path: path.to_path_buf(),
            source: e.error,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_lookup_roundtrips_and_detects_corruption() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = CompileCache::open(base.path(), "engine1").unwrap();
        let key = CacheKey::new(b"\0asm\x01\0\0\0", WasmKind::Module);
        assert_eq!(cache.lookup(&key), None);
        let path = cache.store(&key, b"compiled code").unwrap();
        assert_eq!(cache.lookup(&key), Some(path.clone()));
        fs::write(&path, b"compiled cod3").unwrap();
        assert_eq!(
            cache.lookup(&key),
            None,
            "a corrupt artifact must not be trusted"
        );
        cache.evict(&key);
        assert!(!path.exists());
    }

    #[test]
    fn keys_differ_by_content_and_kind() {
        let a = CacheKey::new(b"one", WasmKind::Module);
        assert_ne!(a, CacheKey::new(b"two", WasmKind::Module));
        assert_ne!(a, CacheKey::new(b"one", WasmKind::Component));
    }

    #[test]
    fn refuses_a_world_writable_directory() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = CompileCache::open(base.path(), "e").unwrap_err();
        assert!(matches!(err, CacheError::Untrusted(_)), "{err}");
    }
}
