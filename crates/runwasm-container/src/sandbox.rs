//! What a Wasm process can reach: its container's rootfs and mounts, nothing of the kernel's
//! own filesystems.
//!
//! A module's `/` preopen is the container's root, so every mount of the container is
//! reachable by some path, `/proc` included, and through `/proc/self/mem` a module could
//! rewrite its own native code. Linux processes of the same container (an `exec`, a shell)
//! need that `/proc`, and so does libcontainer itself in every process it execs into the
//! container, so the mounts stay. Instead each Wasm process confines itself with Landlock
//! before it runs its module: it may use the entries of its root that are not kernel
//! filesystems, and of `/dev` only the usual devices and `/dev/shm`. Which entries qualify is
//! decided on the opened file (`fstatfs`), after symlinks, so no path, `..` or link leads
//! around it; Landlock then holds for every access by the kernel's own resolution. Mounts of
//! kernel filesystems anywhere else (a host `/proc` bound into the container) are refused
//! when the container is created.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, ABI,
};
use nix::sys::statfs::{fstatfs, statfs, FsType};
use oci_spec::runtime::Spec;

/// Filesystem types of the kernel's own state, by mount type name.
const KERNEL_FILESYSTEMS: [&str; 17] = [
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "mqueue",
    "bpf",
    "debugfs",
    "tracefs",
    "securityfs",
    "configfs",
    "fusectl",
    "pstore",
    "efivarfs",
    "binfmt_misc",
    "selinuxfs",
    "devtmpfs",
    "nsfs",
];

/// The same filesystems by superblock magic (`statfs(2)`): what an opened file is on.
const KERNEL_MAGICS: [i64; 17] = [
    0x9fa0,     // proc
    0x62656572, // sysfs
    0x27e0eb,   // cgroup
    0x63677270, // cgroup2
    0x19800202, // mqueue
    0xcafe4a11, // bpf
    0x64626720, // debugfs
    0x74726163, // tracefs
    0x73636673, // securityfs
    0x62656570, // configfs
    0x65735543, // fusectl
    0x6165676c, // pstore
    0xde5e81e4, // efivarfs
    0x42494e4d, // binfmt_misc
    0xf97cff8c, // selinuxfs
    0x1cd1,     // devpts
    0x6e736673, // nsfs
];

/// Where a container keeps its kernel filesystems; a Wasm process is kept out of them.
const KERNEL_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The device nodes a Wasm process may open: the ones every container gets.
pub const USUAL_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// The Landlock version whose rights are asked for; older kernels enforce what they know.
const LANDLOCK_ABI: ABI = ABI::V5;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("a Wasm container gets only the usual devices ({}); {path} is not one of them", USUAL_DEVICES.join(", "))]
    Device { path: String },
    #[error("a Wasm container cannot mount {what} at {destination}: it would expose the kernel's state to the module")]
    KernelMount { what: String, destination: String },
    #[error("cannot confine the Wasm process to its container (Landlock): {0}")]
    Landlock(String),
}

fn is_kernel_fs(fs: FsType) -> bool {
    KERNEL_MAGICS.contains(&{ fs.0 })
}

/// Refuses devices a module must not reach, before anything is created.
pub fn check_devices(spec: &Spec) -> Result<(), SandboxError> {
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for device in devices.into_iter().flatten() {
        let path = device.path().display().to_string();
        if !USUAL_DEVICES.contains(&path.as_str()) {
            return Err(SandboxError::Device { path });
        }
    }
    Ok(())
}

/// Refuses kernel filesystems mounted outside `/proc`, `/sys` and `/dev`, by type or because a
/// bind mount's source lives on one (the source is the caller's host path).
pub fn check_mounts(spec: &Spec) -> Result<(), SandboxError> {
    for mount in spec.mounts().iter().flatten() {
        let dest = mount.destination();
        if KERNEL_TREES.iter().any(|tree| dest.starts_with(tree)) {
            continue;
        }
        let typ = mount.typ().as_deref().unwrap_or("");
        let is_bind = typ == "bind"
            || mount
                .options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        let what = if KERNEL_FILESYSTEMS.contains(&typ) {
            Some(typ.to_string())
        } else if is_bind {
            mount
                .source()
                .as_deref()
                .and_then(|src| statfs(src).ok().map(|st| (src, st)))
                .filter(|(_, st)| is_kernel_fs(st.filesystem_type()))
                .map(|(src, _)| src.display().to_string())
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

/// Confines the calling process (a Wasm process, in its container after `pivot_root`) to
/// what its module may use. Every right Landlock knows is handled, so anything no rule
/// grants is refused by the kernel.
pub fn confine_to_container() -> Result<(), SandboxError> {
    let fail = |e: &dyn std::fmt::Display| SandboxError::Landlock(e.to_string());
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let file = AccessFs::from_file(LANDLOCK_ABI);
    // no rule on `/` itself: a right there would hold in /proc and /sys too, so the root
    // directory can be neither listed nor changed, only what is in it used
    let mut rules: Vec<(PathFd, BitFlags<AccessFs>)> = Vec::new();
    for (path, rights) in allowed_entries(all, file) {
        // opening follows symlinks: the rule is on what the link leads to, checked below
        let Ok(fd) = PathFd::new(&path) else { continue };
        let on_kernel_fs = fstatfs(fd.as_fd()).is_ok_and(|st| is_kernel_fs(st.filesystem_type()));
        if on_kernel_fs {
            tracing::debug!(path = %path.display(), "not granted: a kernel filesystem");
            continue;
        }
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        rules.push((fd, if is_dir { rights } else { rights & file }));
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

/// Every entry of `/` but the kernel trees, with every right; of `/dev`, the usual devices
/// (read and write, no ioctl) and `/dev/shm`.
fn allowed_entries(
    all: BitFlags<AccessFs>,
    file: BitFlags<AccessFs>,
) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    let mut entries: Vec<(PathBuf, BitFlags<AccessFs>)> = std::fs::read_dir("/")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| Path::new("/").join(e.file_name()))
        .filter(|p| !KERNEL_TREES.iter().any(|tree| p == Path::new(tree)))
        .map(|p| (p, all & !AccessFs::IoctlDev))
        .collect();
    let device_rights = (AccessFs::ReadFile | AccessFs::WriteFile) & file;
    entries.extend(
        USUAL_DEVICES
            .iter()
            .map(|d| (PathBuf::from(d), device_rights)),
    );
    entries.push((PathBuf::from("/dev/shm"), all & !AccessFs::IoctlDev));
    entries
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
        let entries = allowed_entries(all, AccessFs::from_file(LANDLOCK_ABI));
        for tree in KERNEL_TREES {
            assert!(!entries.iter().any(|(p, _)| p == Path::new(tree)), "{tree}");
        }
        let null = entries
            .iter()
            .find(|(p, _)| p == Path::new("/dev/null"))
            .unwrap();
        assert!(!null.1.contains(AccessFs::IoctlDev));
        assert!(entries.iter().any(|(p, _)| p == Path::new("/tmp")));
    }
}
