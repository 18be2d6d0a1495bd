//! What a Wasm process can reach: its container's rootfs and mounts, nothing of the kernel's
//! own filesystems.
//!
//! A module's `/` preopen is the container's root, so every mount of the container is
//! reachable by some path, `/proc` included, and through `/proc/self/mem` a module could
//! rewrite its own native code. Linux processes of the same container (an `exec`, a shell)
//! need that `/proc`, and so does libcontainer itself in every process it execs into the
//! container, so the mounts stay. Instead each Wasm process confines itself with Landlock
//! before it runs its module: it may use the entries of its root that are not the kernel
//! trees, and of `/dev` only the usual devices and `/dev/shm`. Each entry is decided on the
//! opened file (after symlinks: `fstat` that it is none of the kernel trees nor the root,
//! `fstatfs` that it is on no kernel filesystem), and the process refuses to run when a
//! kernel filesystem is mounted anywhere inside what it would grant. Landlock then holds for
//! every access, after the kernel's own path resolution, so no path, `..` or link leads
//! around it.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, ABI,
};
use nix::sys::stat::{fstat, FileStat, SFlag};
use nix::sys::statfs::{fstatfs, statfs};
use oci_spec::runtime::Spec;
use runwasm_wasm::kernelfs::{is_kernel_fs_magic, is_kernel_fs_type};

/// Where a container keeps its kernel filesystems; a Wasm process is kept out of them.
const KERNEL_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The one part of a kernel tree a module may use as a whole.
const SHARED_MEMORY: &str = "/dev/shm";

/// The device nodes a Wasm process may open, with their device numbers: the ones every
/// container gets.
pub const USUAL_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The Landlock version whose rights are asked for; older kernels enforce what they know.
const LANDLOCK_ABI: ABI = ABI::V5;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "a Wasm container gets only the usual devices ({}); {path} is not one of them",
        usual_device_names()
    )]
    Device { path: String },
    #[error("a Wasm container cannot mount {what} at {destination}: it would expose the kernel's state to the module")]
    KernelMount { what: String, destination: String },
    #[error("cannot confine the Wasm process to its container (Landlock): {0}")]
    Landlock(String),
}

fn usual_device_names() -> String {
    USUAL_DEVICES.map(|(path, _, _)| path).join(", ")
}

/// Whether a module may be granted a whole mount at `destination`: anywhere but inside the
/// kernel trees, except `/dev/shm`.
fn inside_kernel_tree(destination: &Path) -> bool {
    KERNEL_TREES
        .iter()
        .any(|tree| destination.starts_with(tree))
        && !destination.starts_with(SHARED_MEMORY)
}

/// Refuses devices a module must not reach, before anything is created.
pub fn check_devices(spec: &Spec) -> Result<(), SandboxError> {
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for device in devices.into_iter().flatten() {
        let path = device.path().display().to_string();
        if !USUAL_DEVICES.iter().any(|(usual, _, _)| *usual == path) {
            return Err(SandboxError::Device { path });
        }
    }
    Ok(())
}

/// Refuses kernel filesystems a module would be granted (mounted outside `/proc`, `/sys` and
/// `/dev`, or in `/dev/shm`), by type or because a bind mount's source lives on one (the
/// source is the caller's host path), before anything is created. The Wasm process checks
/// its actual mounts again before it runs ([`confine_to_container`]).
pub fn check_mounts(spec: &Spec) -> Result<(), SandboxError> {
    for mount in spec.mounts().iter().flatten() {
        let dest = mount.destination();
        if inside_kernel_tree(dest) {
            continue;
        }
        let typ = mount.typ().as_deref().unwrap_or("");
        let is_bind = typ == "bind"
            || mount
                .options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        let what = if is_kernel_fs_type(typ) {
            Some(typ.to_string())
        } else if is_bind {
            mount
                .source()
                .as_deref()
                .filter(|src| {
                    statfs(*src).is_ok_and(|st| is_kernel_fs_magic(st.filesystem_type().0))
                })
                .map(|src| src.display().to_string())
        } else {
            None
        };
        if let Some(what) = what {
            return Err(SandboxError::KernelMount {
                what,
                destination: dest.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Fails unless this kernel enforces Landlock, so that a Wasm container is refused at
/// create rather than failing, or running unconfined, at start.
pub fn check_landlock() -> Result<(), SandboxError> {
    // SAFETY: the version query takes no ruleset and returns a number or -1.
    let version = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if version < 1 {
        return Err(SandboxError::Landlock(format!(
            "this kernel does not enforce Landlock ({}); it must be built in and listed in the lsm= boot parameter",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Confines the calling process (a Wasm process, in its container after `pivot_root`, with
/// the container's `/proc` still visible) to what its module may use. Every right Landlock
/// knows is handled, so anything no rule grants is refused by the kernel.
pub fn confine_to_container() -> Result<(), SandboxError> {
    let fail = |e: &dyn std::fmt::Display| SandboxError::Landlock(e.to_string());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| fail(&e))?;
    if let Some((what, destination)) = granted_kernel_mount(&mountinfo) {
        return Err(SandboxError::KernelMount { what, destination });
    }
    let forbidden: Vec<FileStat> = ["/", "/proc", "/sys", "/dev"]
        .iter()
        .filter_map(|p| nix::sys::stat::stat(*p).ok())
        .collect();
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let file = AccessFs::from_file(LANDLOCK_ABI);
    // no rule on `/` itself: a right there would hold in /proc and /sys too, so the root
    // directory can be neither listed nor changed, only what is in it used
    let mut rules: Vec<(PathFd, BitFlags<AccessFs>)> = Vec::new();
    for Grant {
        path,
        rights,
        device,
    } in allowed_entries(all, file)
    {
        // opening follows symlinks: what is checked and granted is what the link leads to
        let Ok(fd) = PathFd::new(&path) else { continue };
        let (Ok(st), Ok(fs)) = (fstat(fd.as_fd().as_raw_fd()), fstatfs(fd.as_fd())) else {
            continue;
        };
        let same = |other: &FileStat| other.st_dev == st.st_dev && other.st_ino == st.st_ino;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let refused = forbidden.iter().any(same)
            || is_kernel_fs_magic(fs.filesystem_type().0)
            || match device {
                Some((major, minor)) => {
                    kind != SFlag::S_IFCHR
                        || (
                            nix::sys::stat::major(st.st_rdev),
                            nix::sys::stat::minor(st.st_rdev),
                        ) != (major, minor)
                }
                None => false,
            };
        if refused {
            tracing::debug!(path = %path.display(), "not granted to the module");
            continue;
        }
        let rights = if kind == SFlag::S_IFDIR {
            rights
        } else {
            rights & file
        };
        rules.push((fd, rights));
    }
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .map_err(|e| fail(&e))?
        .create()
        .map_err(|e| fail(&e))?;
    for (fd, rights) in rules {
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|e| fail(&e))?;
    }
    let status = ruleset.restrict_self().map_err(|e| fail(&e))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(SandboxError::Landlock(
            "this kernel does not enforce Landlock".into(),
        ));
    }
    Ok(())
}

/// The first kernel filesystem (type, mountpoint) in `/proc/self/mountinfo` that sits where
/// a module would be granted it.
fn granted_kernel_mount(mountinfo: &str) -> Option<(String, String)> {
    mountinfo.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mountpoint = unescape_mountinfo(fields.get(4)?);
        let sep = fields.iter().position(|f| *f == "-")?;
        let fstype = *fields.get(sep + 1)?;
        (is_kernel_fs_type(fstype) && !inside_kernel_tree(Path::new(&mountpoint)))
            .then(|| (fstype.to_string(), mountpoint))
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = (bytes[i] == b'\\')
            .then(|| bytes.get(i + 1..i + 4))
            .flatten()
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A tree (or file) the module may be granted, if the file it leads to passes the checks.
struct Grant {
    path: PathBuf,
    rights: BitFlags<AccessFs>,
    /// For a device: the (major, minor) the node must have.
    device: Option<(u64, u64)>,
}

/// Every entry of `/` but the kernel trees, with every right but device ioctls; of `/dev`,
/// the usual devices (read and write) and `/dev/shm`.
fn allowed_entries(all: BitFlags<AccessFs>, file: BitFlags<AccessFs>) -> Vec<Grant> {
    let everything = all & !AccessFs::IoctlDev;
    let mut grants: Vec<Grant> = std::fs::read_dir("/")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| Path::new("/").join(e.file_name()))
        .filter(|p| !KERNEL_TREES.iter().any(|tree| p == Path::new(tree)))
        .map(|path| Grant {
            path,
            rights: everything,
            device: None,
        })
        .collect();
    let device_rights = (AccessFs::ReadFile | AccessFs::WriteFile) & file;
    grants.extend(USUAL_DEVICES.iter().map(|(path, major, minor)| Grant {
        path: PathBuf::from(path),
        rights: device_rights,
        device: Some((*major, *minor)),
    }));
    grants.push(Grant {
        path: PathBuf::from(SHARED_MEMORY),
        rights: everything,
        device: None,
    });
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn kernel_filesystems_outside_their_trees_are_refused() {
        let ok = spec(
            r#"{"ociVersion":"1.0.2","mounts":[
              {"destination":"/proc","type":"proc","source":"proc"},
              {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup"},
              {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue"},
              {"destination":"/data","type":"bind","source":"/tmp","options":["rbind"]}]}"#,
        );
        check_mounts(&ok).unwrap();
        let by_type = spec(
            r#"{"ociVersion":"1.0.2","mounts":[
              {"destination":"/hostproc","type":"proc","source":"proc"}]}"#,
        );
        let err = check_mounts(&by_type).unwrap_err();
        assert!(
            err.to_string().contains("cannot mount proc at /hostproc"),
            "{err}"
        );
        // a bind of a host path that lives on procfs, whatever its name
        let by_source = spec(
            r#"{"ociVersion":"1.0.2","mounts":[
              {"destination":"/x","type":"none","source":"/proc/self","options":["rbind","ro"]}]}"#,
        );
        let err = check_mounts(&by_source).unwrap_err();
        assert!(err.to_string().contains("/proc/self at /x"), "{err}");
        let in_shm = spec(
            r#"{"ociVersion":"1.0.2","mounts":[
              {"destination":"/dev/shm/p","type":"proc","source":"proc"}]}"#,
        );
        assert!(check_mounts(&in_shm).is_err(), "/dev/shm is granted whole");
    }

    #[test]
    fn only_the_usual_devices_are_allowed() {
        let ok = spec(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/null","type":"c","major":1,"minor":3}]}}"#,
        );
        check_devices(&ok).unwrap();
        let disk = spec(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/vda","type":"b","major":253,"minor":0}]}}"#,
        );
        let err = check_devices(&disk).unwrap_err();
        assert!(
            err.to_string().contains("/dev/vda is not one of them"),
            "{err}"
        );
    }

    #[test]
    fn the_kernel_trees_are_never_granted() {
        let all = AccessFs::from_all(LANDLOCK_ABI);
        let grants = allowed_entries(all, AccessFs::from_file(LANDLOCK_ABI));
        for tree in KERNEL_TREES {
            assert!(!grants.iter().any(|g| g.path == Path::new(tree)), "{tree}");
        }
        let null = grants
            .iter()
            .find(|g| g.path == Path::new("/dev/null"))
            .unwrap();
        assert!(!null.rights.contains(AccessFs::IoctlDev));
        assert_eq!(
            null.device,
            Some((1, 3)),
            "a device entry must be that device"
        );
        assert!(grants.iter().any(|g| g.path == Path::new("/tmp")));
    }

    #[test]
    fn kernel_mounts_inside_granted_trees_are_found() {
        let container = "\
1 0 0:50 / / rw - overlay overlay rw
2 1 0:60 / /proc rw - proc proc rw
3 2 0:60 /sys /proc/sys ro - proc proc rw
4 1 0:61 / /dev rw - tmpfs tmpfs rw
5 4 0:62 / /dev/pts rw - devpts devpts rw
6 4 0:63 / /dev/mqueue rw - mqueue mqueue rw
7 1 0:64 / /sys ro - sysfs sysfs ro
8 7 0:65 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw
9 1 8:1 /data /my\\040data rw - ext4 /dev/sda1 rw
";
        assert_eq!(granted_kernel_mount(container), None);
        let nested = format!("{container}10 9 0:60 / /my\\040data/p rw - proc proc rw\n");
        assert_eq!(
            granted_kernel_mount(&nested),
            Some(("proc".into(), "/my data/p".into()))
        );
        let in_shm = format!("{container}11 4 0:60 / /dev/shm/x rw - proc proc rw\n");
        assert_eq!(
            granted_kernel_mount(&in_shm),
            Some(("proc".into(), "/dev/shm/x".into()))
        );
        let host_dev = format!("{container}12 1 0:6 / /hostdev rw - devtmpfs udev rw\n");
        assert!(granted_kernel_mount(&host_dev).is_some());
    }
}
