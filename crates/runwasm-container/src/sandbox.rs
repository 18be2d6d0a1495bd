//! What a Wasm container's processes can see: its rootfs and its mounts, nothing of the
//! kernel's own filesystems.
//!
//! A module's `/` preopen is the container's root, so every mount in the container is
//! reachable by some path. A Linux container needs procfs, sysfs and cgroupfs; a module does
//! not, and through them it could write its own memory (`/proc/self/mem`) or read the host's
//! state. So once libcontainer has set the container up (and before `start` runs any of its
//! code), runwasm covers every such mount with an empty read-only tmpfs in the container's
//! mount namespace. The decision is made on the mounts as the kernel lists them
//! (`/proc/<pid>/mountinfo`, by filesystem type), so no path, `..` or symlink leads around it,
//! and it holds for every process of the container, exec'd ones included.

use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::Spec;

/// Filesystems of the kernel's own state. devpts stays: it is the container's terminal.
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

/// The device nodes a Wasm container may have: the ones every container gets.
pub const USUAL_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot read the mounts of process {pid}: {source}")]
    Mountinfo {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot cover {mountpoint} in the container: {reason}")]
    Mask { mountpoint: String, reason: String },
    #[error("a Wasm container gets only the usual devices ({}); {path} is not one of them", USUAL_DEVICES.join(", "))]
    Device { path: String },
    #[error("this container exposes {mountpoints} (it is not a Wasm container), so a Wasm process cannot run in it")]
    NotSandboxed { mountpoints: String },
}

/// One line of `/proc/<pid>/mountinfo`: where, and what filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    mountpoint: PathBuf,
    fstype: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mountpoint = unescape(fields.get(4)?);
            let sep = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(sep + 1)?.to_string();
            Some(Mount {
                mountpoint: PathBuf::from(mountpoint),
                fstype,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kernel-filesystem mounts that no later mount covers, outermost first (a mount covers
/// another when it sits at the same place or above it and was mounted after it).
fn exposed_kernel_mounts(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut exposed: Vec<PathBuf> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        if !KERNEL_FILESYSTEMS.contains(&m.fstype.as_str()) {
            continue;
        }
        let covered = mounts[i + 1..]
            .iter()
            .any(|later| m.mountpoint.starts_with(&later.mountpoint) && later.fstype == "tmpfs");
        if !covered {
            exposed.push(m.mountpoint.clone());
        }
    }
    exposed.sort();
    // covering /proc covers /proc/sys too
    let mut outermost: Vec<PathBuf> = Vec::new();
    for path in exposed {
        if !outermost.iter().any(|outer| path.starts_with(outer)) {
            outermost.push(path);
        }
    }
    outermost
}

fn mounts_of(pid: Pid) -> Result<Vec<Mount>, SandboxError> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).map_err(|source| {
        SandboxError::Mountinfo {
            pid: pid.as_raw(),
            source,
        }
    })?;
    Ok(parse_mountinfo(&text))
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

/// Covers every exposed kernel filesystem in the mount namespace of `init` (a created
/// container that has not started) with an empty read-only tmpfs.
pub fn mask_kernel_filesystems(init: Pid) -> Result<(), SandboxError> {
    let targets = exposed_kernel_mounts(&mounts_of(init)?);
    if targets.is_empty() {
        return Ok(());
    }
    tracing::debug!(?targets, "covering kernel filesystems of a Wasm container");
    let ns =
        std::fs::File::open(format!("/proc/{init}/ns/mnt")).map_err(|e| SandboxError::Mask {
            mountpoint: "/".into(),
            reason: format!("cannot open the mount namespace: {e}"),
        })?;
    // setns into a mount namespace needs a single-threaded process: a child does it
    // SAFETY: the child only makes syscalls and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match setns(ns.as_fd(), CloneFlags::CLONE_NEWNS) {
                Ok(()) => cover_all(&targets),
                Err(_) => 100,
            };
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { nix::libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(WaitStatus::Exited(_, 100)) => Err(SandboxError::Mask {
                mountpoint: "/".into(),
                reason: "cannot enter the container's mount namespace".into(),
            }),
            Ok(WaitStatus::Exited(_, n)) if (n as usize) <= targets.len() && n > 0 => {
                Err(SandboxError::Mask {
                    mountpoint: targets[n as usize - 1].display().to_string(),
                    reason: "mount failed".into(),
                })
            }
            other => Err(SandboxError::Mask {
                mountpoint: "/".into(),
                reason: format!("the masking process ended with {other:?}"),
            }),
        },
        Err(e) => Err(SandboxError::Mask {
            mountpoint: "/".into(),
            reason: format!("cannot fork: {e}"),
        }),
    }
}

/// In the container's mount namespace: an empty read-only tmpfs on each path (a directory),
/// or `/dev/null` bound read-only on it (a file). Returns 0, or 1 + the index that failed.
fn cover_all(targets: &[PathBuf]) -> i32 {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for (i, target) in targets.iter().enumerate() {
        let is_dir = std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir());
        let covered = if is_dir {
            mount(
                Some("tmpfs"),
                target,
                Some("tmpfs"),
                ro,
                Some("size=4k,nr_inodes=1,mode=555"),
            )
        } else {
            mount(
                Some("/dev/null"),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .and_then(|()| {
                mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    ro | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                    None::<&str>,
                )
            })
        };
        if covered.is_err() {
            return i as i32 + 1;
        }
    }
    0
}

/// A Wasm process exec'd into a running container must find its kernel filesystems covered:
/// a Linux container's /proc would hand the module its own memory.
pub fn check_sandboxed(init: Pid) -> Result<(), SandboxError> {
    let exposed = exposed_kernel_mounts(&mounts_of(init)?);
    if exposed.is_empty() {
        return Ok(());
    }
    Err(SandboxError::NotSandboxed {
        mountpoints: exposed
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER: &str = "\
1 0 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l
2 1 0:60 / /proc rw,nosuid - proc proc rw
3 1 0:61 / /dev rw,nosuid - tmpfs tmpfs rw
4 3 0:62 / /dev/pts rw - devpts devpts rw
5 3 0:63 / /dev/mqueue rw - mqueue mqueue rw
6 1 0:64 / /sys ro - sysfs sysfs ro
7 6 0:65 / /sys/fs/cgroup ro - tmpfs tmpfs rw
8 7 0:66 / /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
9 2 0:60 /sys /proc/sys ro - proc proc rw
10 1 8:1 /data /my\\040data rw - ext4 /dev/sda1 rw
11 1 0:60 / /hostproc rw - proc proc rw
";

    #[test]
    fn every_kernel_filesystem_is_found_outermost_first() {
        let mounts = parse_mountinfo(CONTAINER);
        assert_eq!(mounts[9].mountpoint, PathBuf::from("/my data"));
        assert_eq!(
            exposed_kernel_mounts(&mounts),
            ["/dev/mqueue", "/hostproc", "/proc", "/sys"]
                .map(PathBuf::from)
                .to_vec()
        );
    }

    #[test]
    fn covered_mounts_are_not_exposed() {
        let mut text = CONTAINER.to_string();
        for (i, path) in ["/dev/mqueue", "/hostproc", "/proc", "/sys"]
            .iter()
            .enumerate()
        {
            text.push_str(&format!(
                "{} 1 0:9{i} / {path} ro - tmpfs tmpfs ro\n",
                20 + i
            ));
        }
        assert!(exposed_kernel_mounts(&parse_mountinfo(&text)).is_empty());
        // a tmpfs mounted before the proc mount it "covers" does not cover it
        let early = "1 0 0:50 / / rw - overlay o rw\n2 1 0:9 / /proc ro - tmpfs t ro\n3 1 0:60 / /proc rw - proc proc rw\n";
        assert_eq!(
            exposed_kernel_mounts(&parse_mountinfo(early)),
            vec![PathBuf::from("/proc")]
        );
    }

    #[test]
    fn only_the_usual_devices_are_allowed() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/null","type":"c","major":1,"minor":3}]}}"#,
        )
        .unwrap();
        check_devices(&spec).unwrap();
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/vda","type":"b","major":253,"minor":0}]}}"#,
        )
        .unwrap();
        let err = check_devices(&spec).unwrap_err();
        assert!(
            err.to_string().contains("/dev/vda is not one of them"),
            "{err}"
        );
    }
}
