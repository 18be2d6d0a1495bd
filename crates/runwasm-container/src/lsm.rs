//! The Linux security modules this host really has, and the AppArmor change a Wasm process
//! makes for itself (it never execs, so libcontainer's exec-time profile would never apply).

use std::io::Write;
use std::path::Path;

/// The security modules of the host, read by the runtime before it enters the container
/// (where securityfs is usually not mounted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostLsms {
    pub apparmor: bool,
    pub selinux: bool,
}

impl HostLsms {
    pub fn detect() -> Self {
        Self {
            apparmor: apparmor_enabled(),
            selinux: selinux_enabled(),
        }
    }
}

/// AppArmor is loaded and enabled.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
        && Path::new("/sys/kernel/security/apparmor").exists()
}

/// SELinux is mounted (enforcing or permissive).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Moves the calling process into `profile` at once (`aa_change_profile`).
pub fn change_apparmor_profile(profile: &str) -> std::io::Result<()> {
    let request = format!("changeprofile {profile}");
    let write = |path: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(request.as_bytes())
    };
    write("/proc/self/attr/apparmor/current").or_else(|_| write("/proc/self/attr/current"))
}
