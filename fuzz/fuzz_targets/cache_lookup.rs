//! The compile cache's reader (crates/runwasm-wasm/src/cache.rs): `lookup` reads an entry's
//! digest file (`<key>.b3`) and trusts the artifact (`<key>.cwasm`, native code wasmtime
//! maps) only if its BLAKE3 matches. Here both files are fuzzed: the digest's text (the
//! right one, the right one reworked, or any bytes), the artifact's bytes, modes and links,
//! a file missing. Checked beyond "no panic":
//! - a hit is only ever a regular file of ours that others cannot write, not a link, whose
//!   bytes are the artifact's and whose BLAKE3 the digest file starts with;
//! - a well-formed entry (the hex digest, an optional newline) is always a hit;
//! - `store` then `lookup` gives back what was stored, under any quota, and the quota never
//!   evicts the entry just stored.
#![no_main]

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use runwasm_wasm::cache::{CacheKey, CompileCache};
use runwasm_wasm::WasmKind;

#[derive(Arbitrary, Debug)]
enum Digest {
    Missing,
    Exact,
    ExactNewline,
    /// The right hex with changes: upper case, spaces around, cut, a byte flipped...
    Reworked {
        upper: bool,
        pad_before: u8,
        pad_after: u8,
        cut: u8,
        flip: Option<u8>,
    },
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Artifact {
    Missing,
    File {
        mode: u16,
    },
    /// A link to a file with the same bytes.
    Link,
    Directory,
}

#[derive(Arbitrary, Debug)]
struct Input {
    module: Vec<u8>,
    component: bool,
    artifact_bytes: Vec<u8>,
    artifact: Artifact,
    digest: Digest,
    digest_mode: u16,
    /// For the store half: the cache's quota and what was there before.
    quota: u16,
    others: Vec<Vec<u8>>,
}

fn base() -> &'static std::path::Path {
    static BASE: OnceLock<std::path::PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = runwasm_fuzz::scratch().join("cache");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        dir
    })
}

fn digest_text(digest: &Digest, hex: &str) -> Option<Vec<u8>> {
    Some(match digest {
        Digest::Missing => return None,
        Digest::Exact => hex.as_bytes().to_vec(),
        Digest::ExactNewline => format!("{hex}\n").into_bytes(),
        Digest::Reworked {
            upper,
            pad_before,
            pad_after,
            cut,
            flip,
        } => {
            let mut text: Vec<u8> = if *upper {
                hex.to_uppercase()
            } else {
                hex.to_string()
            }
            .into();
            text.truncate(text.len() - (*cut as usize % 4));
            if let Some(i) = flip {
                let i = *i as usize % text.len().max(1);
                if let Some(b) = text.get_mut(i) {
                    *b ^= 1;
                }
            }
            let mut out = vec![b' '; *pad_before as usize % 80];
            out.extend(text);
            out.extend(std::iter::repeat_n(b'\n', *pad_after as usize % 80));
            out
        }
        Digest::Bytes(b) => b.clone(),
    })
}

fn lookup_half(cache: &CompileCache, key: &CacheKey, input: &Input) {
    let artifact = cache.artifact_path(key);
    let digest_path = artifact.with_extension("b3");
    let _ = fs::remove_file(&artifact);
    let _ = fs::remove_dir(&artifact);
    let _ = fs::remove_file(&digest_path);
    let hex = blake3::hash(&input.artifact_bytes).to_hex().to_string();
    let digest = digest_text(&input.digest, &hex);
    if let Some(text) = &digest {
        fs::write(&digest_path, text).unwrap();
        let mode = u32::from(input.digest_mode) & 0o777 | 0o400;
        fs::set_permissions(&digest_path, fs::Permissions::from_mode(mode)).unwrap();
    }
    let mut trusted_file = false;
    match input.artifact {
        Artifact::Missing => {}
        Artifact::File { mode } => {
            fs::write(&artifact, &input.artifact_bytes).unwrap();
            let mode = u32::from(mode) & 0o777 | 0o400;
            fs::set_permissions(&artifact, fs::Permissions::from_mode(mode)).unwrap();
            trusted_file = mode & 0o022 == 0;
        }
        Artifact::Link => {
            let elsewhere = base().join("elsewhere");
            fs::write(&elsewhere, &input.artifact_bytes).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &artifact).unwrap();
        }
        Artifact::Directory => fs::create_dir(&artifact).unwrap(),
    }
    let digest_trusted = u32::from(input.digest_mode) & 0o022 == 0;

    let found = cache.lookup(key);
    match found {
        Some(mut file) => {
            let meta = file.metadata().unwrap();
            assert!(meta.is_file(), "a hit that is not a regular file");
            assert_eq!(meta.mode() & 0o022, 0, "a hit others may write");
            assert!(trusted_file, "a hit from {:?}", input.artifact);
            assert!(digest_trusted, "a digest others may write was trusted");
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes, input.artifact_bytes, "a hit with other bytes");
            let text = String::from_utf8_lossy(digest.as_deref().expect("a hit without a digest"));
            assert!(
                text.trim_start().starts_with(&hex),
                "a hit on digest {text:?}"
            );
        }
        None => {
            let well_formed = matches!(input.digest, Digest::Exact | Digest::ExactNewline);
            assert!(
                !(well_formed && trusted_file && digest_trusted),
                "a good entry was not found"
            );
        }
    }
    // leave no entry behind: the store half's quota scans every entry, so they would pile up
    // and slow each run down
    let _ = fs::remove_file(&artifact);
    let _ = fs::remove_dir(&artifact);
    let _ = fs::remove_file(&digest_path);
}

fn store_half(key: &CacheKey, input: &Input) {
    // a cache per quota, so that one iteration's quota does not evict the next one's entries
    let cache = CompileCache::open(base(), "store", u64::from(input.quota)).unwrap();
    for (i, other) in input.others.iter().take(4).enumerate() {
        let other_key = CacheKey::new(&[i as u8], WasmKind::Module);
        cache.store(&other_key, other).unwrap();
    }
    let mut stored = cache.store(key, &input.artifact_bytes).unwrap();
    let mut bytes = Vec::new();
    stored.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, input.artifact_bytes);
    let mut found = cache.lookup(key).expect("what was just stored is found");
    bytes.clear();
    found.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, input.artifact_bytes);
    cache.evict(key);
    assert!(cache.lookup(key).is_none(), "an evicted entry is found");
}

fuzz_target!(|input: Input| {
    runwasm_fuzz::selftest();
    let kind = if input.component {
        WasmKind::Component
    } else {
        WasmKind::Module
    };
    let key = CacheKey::new(&input.module, kind);
    let cache = CompileCache::open(base(), "lookup", u64::MAX).unwrap();
    lookup_half(&cache, &key, &input);
    store_half(&key, &input);
});
