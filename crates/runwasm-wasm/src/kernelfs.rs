//! The kernel's own filesystems (procfs, sysfs, cgroupfs, ...): what neither a module nor
//! the runtime reading a container's files may touch.

/// Filesystems of the kernel's own state: the mount type name, and the superblock magic an
/// opened file on one reports (`statfs(2)`; devtmpfs reports tmpfs', so it goes by name).
pub const KERNEL_FILESYSTEMS: [(&str, i64); 18] = [
    ("proc", 0x9fa0),
    ("sysfs", 0x62656572),
    ("cgroup", 0x27e0eb),
    ("cgroup2", 0x63677270),
    ("mqueue", 0x19800202),
    ("bpf", 0xcafe4a11),
    ("debugfs", 0x64626720),
    ("tracefs", 0x74726163),
    ("securityfs", 0x73636673),
    ("configfs", 0x62656570),
    ("fusectl", 0x65735543),
    ("pstore", 0x6165676c),
    ("efivarfs", 0xde5e81e4),
    ("binfmt_misc", 0x42494e4d),
    ("selinuxfs", 0xf97cff8c),
    ("devpts", 0x1cd1),
    ("nsfs", 0x6e736673),
    ("devtmpfs", -1),
];

pub fn is_kernel_fs_type(name: &str) -> bool {
    KERNEL_FILESYSTEMS.iter().any(|(n, _)| *n == name)
}

pub fn is_kernel_fs_magic(magic: i64) -> bool {
    KERNEL_FILESYSTEMS.iter().any(|(_, m)| *m == magic)
}
