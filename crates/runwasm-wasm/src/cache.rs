//! The compile cache: a module is compiled once per (content hash, engine configuration);
//! later starts memory-map the precompiled artifact, so the code pages are shared through the
//! page cache by every container running it.
//!
//! Layout: `DIR/<engine-hash>/<content-hash>.cwasm` plus `<content-hash>.b3`, the BLAKE3 of
//! the artifact. An artifact is native code, so it is trusted only as one open file: opened
//! without following links, checked with `fstat` (a regular file of ours that nobody else may
//! write), its digest computed over that file's mapping, and the same file handed to
//! wasmtime. A mismatch, or an artifact wasmtime rejects (another version or
//! configuration), is compiled again and replaced. Writes go to a temporary file in the same
//! directory and are renamed into place, so a reader never sees half an artifact. The cache
//! is bounded ([`crate::limits::max_cache_bytes`]): after a store, the least recently used
//! artifacts go until it fits. A cache that cannot be written costs speed, never a start.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::classify::WasmKind;

/// Where `runwasm` and the shim share compiled modules unless `RUNWASM_CACHE_DIR` says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/runwasm/cache";
pub const CACHE_DIR_ENV: &str = "RUNWASM_CACHE_DIR";

const ARTIFACT_EXT: &str = "cwasm";
const DIGEST_EXT: &str = "b3";

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
    base: PathBuf,
    dir: PathBuf,
    max_bytes: u64,
}

/// The key of one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// The artifact's file name in an engine's cache directory.
    pub fn file_name(&self) -> String {
        format!("{}.{ARTIFACT_EXT}", self.0)
    }

    pub fn new(wasm: &[u8], kind: WasmKind) -> Self {
        let tag = match kind {
            WasmKind::Module => "m",
            WasmKind::Component => "c",
        };
        Self(format!("{}-{tag}", blake3::hash(wasm).to_hex()))
    }
}

impl CompileCache {
    /// Opens (creating it if needed) the cache for the engine identified by `engine_hash`,
    /// holding at most `max_bytes` of artifacts across engines.
    /// The base directory must belong to the current user and not be writable by others,
    /// because its artifacts are executed as native code.
    pub fn open(base: &Path, engine_hash: &str, max_bytes: u64) -> Result<Self, CacheError> {
        let dir = base.join(engine_hash);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(&dir))?;
        for checked in [base, dir.as_path()] {
            let meta = fs::symlink_metadata(checked).map_err(io_err(checked))?;
            if !meta.is_dir() || !trusted(&meta) {
                return Err(CacheError::Untrusted(checked.to_path_buf()));
            }
        }
        Ok(Self {
            base: base.to_path_buf(),
            dir,
            max_bytes,
        })
    }

    /// The cache directory named by the environment, or the default.
    pub fn base_dir_from_env() -> PathBuf {
        std::env::var_os(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
    }

    pub fn artifact_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    fn digest_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.{DIGEST_EXT}", key.0))
    }

    /// The artifact of `key`, opened once and verified: the returned file is the one whose
    /// bytes matched the digest written with it. Marks the entry as recently used.
    pub fn lookup(&self, key: &CacheKey) -> Option<File> {
        let path = self.artifact_path(key);
        let expected = read_digest(&self.digest_path(key))?;
        let file = open_trusted(&path).ok()?;
        // SAFETY: the mapping is only read, and only for the digest; the file is ours and
        // nobody else may write it (checked by open_trusted).
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        if blake3::hash(&map).to_hex().as_str() != expected {
            tracing::warn!(artifact = %path.display(), "cache entry is corrupt; recompiling");
            return None;
        }
        // least recently used = oldest mtime
        let _ = file.set_modified(SystemTime::now());
        Some(file)
    }

    /// Stores `artifact` under `key` atomically, trims the cache to its quota and returns the
    /// stored file, opened read-only.
    pub fn store(&self, key: &CacheKey, artifact: &[u8]) -> Result<File, CacheError> {
        let digest = blake3::hash(artifact).to_hex();
        // the digest goes first: a reader that finds a new artifact with an old digest
        // recompiles, it never trusts a mismatch
        self.write_atomic(&self.digest_path(key), digest.as_bytes())?;
        let path = self.artifact_path(key);
        let written = self.write_atomic(&path, artifact)?;
        // the same inode, read-only: what runs is what was just written
        let stored = File::open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&written)
        ))
        .map_err(io_err(&path))?;
        self.trim(&path);
        Ok(stored)
    }

    /// Drops an entry that the engine refused to load.
    pub fn evict(&self, key: &CacheKey) {
        let _ = fs::remove_file(self.artifact_path(key));
        let _ = fs::remove_file(self.digest_path(key));
    }

    /// Removes the least recently used artifacts (and their digests) until the cache, every
    /// engine's directory included, holds at most `max_bytes`; `keep` is never removed.
    fn trim(&self, keep: &Path) {
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let dirs = fs::read_dir(&self.base).into_iter().flatten().flatten();
        for dir in dirs.filter(|d| d.file_type().is_ok_and(|t| t.is_dir())) {
            for entry in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some(ARTIFACT_EXT) {
                    continue;
                }
                if let Ok(meta) = entry.metadata() {
                    let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    entries.push((used, meta.len(), path));
                }
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            tracing::info!(artifact = %path.display(), "compile cache over its quota; evicting");
            if fs::remove_file(&path).is_ok() {
                let _ = fs::remove_file(path.with_extension(DIGEST_EXT));
                total -= len;
            }
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<File, CacheError> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io_err(&self.dir))?;
        tmp.write_all(bytes).map_err(io_err(path))?;
        tmp.as_file().sync_data().map_err(io_err(path))?;
        tmp.persist(path).map_err(|e| CacheError::Io {
            path: path.to_path_buf(),
            source: e.error,
        })
    }
}

/// Owned by us and writable by nobody else.
fn trusted(meta: &fs::Metadata) -> bool {
    meta.uid() == nix::unistd::geteuid().as_raw() && meta.permissions().mode() & 0o022 == 0
}

/// Opens a cache file without following a link and checks the opened file itself.
fn open_trusted(path: &Path) -> std::io::Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || !trusted(&meta) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "not a regular file of ours that only we can write",
        ));
    }
    Ok(file)
}

fn read_digest(path: &Path) -> Option<String> {
    let mut text = String::new();
    open_trusted(path)
        .ok()?
        .take(128)
        .read_to_string(&mut text)
        .ok()?;
    Some(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_lookup_roundtrips_and_detects_corruption() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = CompileCache::open(base.path(), "engine1", u64::MAX).unwrap();
        let key = CacheKey::new(b"\0asm\x01\0\0\0", WasmKind::Module);
        assert!(cache.lookup(&key).is_none());
        let mut stored = cache.store(&key, b"compiled code").unwrap();
        let mut text = String::new();
        stored.read_to_string(&mut text).unwrap();
        assert_eq!(text, "compiled code");
        let path = cache.artifact_path(&key);
        let mut found = cache.lookup(&key).expect("a stored entry is found");
        text.clear();
        found.read_to_string(&mut text).unwrap();
        assert_eq!(text, "compiled code");
        fs::write(&path, b"compiled cod3").unwrap();
        assert!(
            cache.lookup(&key).is_none(),
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
        let err = CompileCache::open(base.path(), "e", u64::MAX).unwrap_err();
        assert!(matches!(err, CacheError::Untrusted(_)), "{err}");
    }

    #[test]
    fn links_and_files_others_can_write_are_not_trusted() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = CompileCache::open(base.path(), "e", u64::MAX).unwrap();
        let key = CacheKey::new(b"x", WasmKind::Module);
        cache.store(&key, b"artifact").unwrap();
        let path = cache.artifact_path(&key);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(cache.lookup(&key).is_none(), "a world-writable artifact");
        // a link in place of the artifact, to a file with the right bytes
        let elsewhere = base.path().join("elsewhere");
        fs::write(&elsewhere, b"artifact").unwrap();
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(cache.lookup(&key).is_none(), "a symlinked artifact");
    }

    #[test]
    fn the_quota_evicts_the_least_recently_used() {
        let base = tempfile::tempdir().unwrap();
        fs::set_permissions(base.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let cache = CompileCache::open(base.path(), "e", 250).unwrap();
        let keys: Vec<CacheKey> = (0..3u8)
            .map(|i| CacheKey::new(&[i], WasmKind::Module))
            .collect();
        let old = SystemTime::now() - std::time::Duration::from_secs(100);
        cache
            .store(&keys[0], &[0; 100])
            .unwrap()
            .set_modified(old)
            .unwrap();
        let recent = old + std::time::Duration::from_secs(50);
        cache
            .store(&keys[1], &[1; 100])
            .unwrap()
            .set_modified(recent)
            .unwrap();
        // using the oldest makes it the most recent
        cache.lookup(&keys[0]).expect("still cached");
        cache.store(&keys[2], &[2; 100]).unwrap();
        assert!(cache.lookup(&keys[0]).is_some(), "recently used stays");
        assert!(
            !cache.artifact_path(&keys[1]).exists(),
            "least recently used goes"
        );
        assert!(!cache.digest_path(&keys[1]).exists());
        assert!(cache.lookup(&keys[2]).is_some(), "the new entry stays");
    }
}
