//! Deterministic tar writing: the same inputs always give the same layer digest (owner 0,
//! mtime 0, sorted entries), so rebuilding an unchanged image changes nothing in a store.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header};

use crate::ImageError;

enum Entry {
    Dir(u32),
    File(Vec<u8>, u32),
    Link(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The path in the layer of a path in the container: relative, `.` and `..` refused.
fn layer_path(guest: &str) -> Result<PathBuf, ImageError> {
    let mut out = PathBuf::new();
    for part in guest.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err(ImageError::Invalid {
                what: "path in the image",
                value: guest.to_string(),
                reason: "'..' is not allowed",
            });
        }
        out.push(part);
    }
    Ok(out)
}

fn collect(
    host: &Path,
    guest: PathBuf,
    entries: &mut BTreeMap<PathBuf, Entry>,
) -> Result<(), ImageError> {
    let meta = fs::symlink_metadata(host).map_err(io_err(host))?;
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
    if meta.file_type().is_symlink() {
        entries.insert(
            guest,
            Entry::Link(fs::read_link(host).map_err(io_err(host))?),
        );
    } else if meta.is_dir() {
        if !guest.as_os_str().is_empty() {
            entries.insert(guest.clone(), Entry::Dir(mode));
        }
        for child in fs::read_dir(host).map_err(io_err(host))? {
            let child = child.map_err(io_err(host))?;
            collect(&child.path(), guest.join(child.file_name()), entries)?;
        }
    } else if meta.is_file() {
        entries.insert(
            guest,
            Entry::File(fs::read(host).map_err(io_err(host))?, mode),
        );
    } else {
        return Err(ImageError::Invalid {
            what: "file",
            value: host.display().to_string(),
            reason: "only files, directories and symbolic links go into an image",
        });
    }
    Ok(())
}

/// A tar layer of `files` ((host, guest) pairs; an empty host path stands for `module`).
pub fn layer(files: &[(PathBuf, String)], module: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut entries = BTreeMap::new();
    for (host, guest) in files {
        let guest = layer_path(guest)?;
        if host.as_os_str().is_empty() {
            entries.insert(guest, Entry::File(module.to_vec(), 0o755));
        } else {
            collect(host, guest, &mut entries)?;
        }
    }
    // parents first (BTreeMap order), each directory present before what it holds
    let mut parents = BTreeMap::new();
    for path in entries.keys() {
        for parent in path.ancestors().skip(1) {
            if !parent.as_os_str().is_empty() && !entries.contains_key(parent) {
                parents.insert(parent.to_path_buf(), Entry::Dir(0o755));
            }
        }
    }
    entries.extend(parents);
    let mut tar = Builder::new(Vec::new());
    for (path, entry) in &entries {
        let mut header = Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let data: &[u8] = match entry {
            Entry::Dir(mode) => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(*mode);
                &[]
            }
            Entry::File(bytes, mode) => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(*mode);
                bytes
            }
            Entry::Link(target) => {
                header.set_entry_type(EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, path, target)
                    .map_err(ImageError::Write)?;
                continue;
            }
        };
        header.set_size(data.len() as u64);
        tar.append_data(&mut header, path, data)
            .map_err(ImageError::Write)?;
    }
    tar.into_inner().map_err(ImageError::Write)
}

/// The image layout tarball: `blobs/sha256/*` and the top-level files.
pub fn layout(
    out: impl Write,
    blobs: &[(String, Vec<u8>)],
    files: &[(String, Vec<u8>)],
) -> std::io::Result<()> {
    let mut tar = Builder::new(out);
    for dir in ["blobs", "blobs/sha256"] {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(0);
        header.set_size(0);
        tar.append_data(&mut header, dir, &[][..])?;
    }
    let named = blobs
        .iter()
        .map(|(digest, data)| (format!("blobs/sha256/{}", &digest[7..]), data));
    for (name, data) in files.iter().map(|(n, d)| (n.clone(), d)).chain(named) {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        tar.append_data(&mut header, name, data.as_slice())?;
    }
    tar.into_inner()?.flush()
}
