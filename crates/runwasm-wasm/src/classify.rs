//! The one place that decides whether a container process is Wasm or Linux.
//!
//! Rules (see docs/architecture.md):
//! - a sandbox (pause) container is always Linux;
//! - `module.wasm.image/variant=compat` or `run.oci.handler=wasm` force Wasm;
//! - `compat-smart` / `wasm-smart` make it Wasm only when the entrypoint is a Wasm file
//!   (magic bytes, or a `.wasm`/`.wat` name);
//! - otherwise the entrypoint's first bytes decide: `\0asm` is Wasm, anything else
//!   (ELF, `#!`) is Linux.
//!
//! The entrypoint is resolved inside the container's root like runc does: `args[0]` with a
//! `/` is taken as is (relative to `cwd`), otherwise it is looked up in the process `PATH`.
//! Everything about the entrypoint is the container's to choose, so it is opened exactly
//! once, by the kernel beneath the root (`openat2` with `RESOLVE_IN_ROOT`: `..` and symlinks,
//! absolute ones included, never leave it; no magic links), checked with `fstat` (a regular
//! file under the size cap) and read from that one descriptor.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::limits;

pub const ANNOTATION_WASM_VARIANT: &str = "module.wasm.image/variant";
pub const ANNOTATION_OCI_HANDLER: &str = "run.oci.handler";

/// Annotations (key, value) that mark a pod sandbox container; those never run as Wasm.
pub const SANDBOX_MARKERS: [(&str, &str); 3] = [
    ("io.kubernetes.cri.container-type", "sandbox"),
    ("io.kubernetes.cri-o.ContainerType", "sandbox"),
    ("io.kubernetes.docker.type", "podsandbox"),
];

/// Every annotation this module understands, for `runwasm features`.
pub const KNOWN_ANNOTATIONS: [&str; 2] = [ANNOTATION_WASM_VARIANT, ANNOTATION_OCI_HANDLER];

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("the process has no args: nothing to run")]
    NoArgs,
    #[error("entrypoint {name:?} not found in the container (looked in {searched})")]
    EntrypointNotFound { name: String, searched: String },
    #[error(
        "entrypoint {path:?} is not a Wasm module, but the annotation {annotation} asks for Wasm"
    )]
    NotWasm { path: String, annotation: String },
    #[error("the OCI Wasm layer of {name:?} is not a Wasm binary (no \\0asm header)")]
    LayerNotWasm { name: String },
    #[error("Wasm entrypoint {path:?} is not a regular file")]
    NotRegular { path: String },
    #[error("Wasm module {path:?} is {size} bytes, larger than the limit of {limit} bytes ({env})", env = limits::MODULE_MAX_ENV)]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("cannot open the container's root {path:?}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read entrypoint {path:?}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the annotations ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmPolicy {
    /// Never Wasm (the pod sandbox).
    Sandbox,
    /// Wasm whatever the entrypoint looks like.
    Forced,
    /// Wasm only for Wasm-looking entrypoints.
    Smart,
    /// No annotation: the magic bytes decide.
    Sniff,
}

impl WasmPolicy {
    pub fn from_annotations(annotations: Option<&HashMap<String, String>>) -> (Self, String) {
        let Some(ann) = annotations else {
            return (Self::Sniff, String::new());
        };
        if SANDBOX_MARKERS
            .iter()
            .any(|(k, v)| ann.get(*k).map(String::as_str) == Some(*v))
        {
            return (Self::Sandbox, String::new());
        }
        for key in [ANNOTATION_WASM_VARIANT, ANNOTATION_OCI_HANDLER] {
            let policy = match ann.get(key).map(String::as_str) {
                Some("compat") | Some("wasm") => Self::Forced,
                Some("compat-smart") | Some("wasm-smart") => Self::Smart,
                _ => continue,
            };
            return (policy, format!("{key}={}", ann[key]));
        }
        (Self::Sniff, String::new())
    }
}

/// The binary format of a Wasm entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module (WASI preview 1), binary or `.wat` text.
    Module,
    /// A component (WASI preview 2).
    Component,
}

impl WasmKind {
    /// Reads the kind from a binary's header: the `layer` half of the version field is 1 for
    /// components and 0 for core modules; text is always a core module.
    pub fn of(bytes: &[u8]) -> Self {
        if bytes.len() >= 8 && bytes.starts_with(WASM_MAGIC) && bytes[6..8] == [1, 0] {
            Self::Component
        } else {
            Self::Module
        }
    }
}

/// The interface whose export makes a component an HTTP server (the `wasi:http/proxy` world).
pub const HTTP_HANDLER_INTERFACE: &str = "wasi:http/incoming-handler";

/// Whether `bytes` are a component that exports `wasi:http/incoming-handler` (any 0.2
/// version): such a component is served, one instance per request, instead of run once.
/// Only the top-level export section is read; nothing is validated here (compiling does it).
pub fn exports_http_handler(bytes: &[u8]) -> bool {
    use wasmparser::{Parser, Payload};
    if WasmKind::of(bytes) != WasmKind::Component {
        return false;
    }
    // nested modules and components open with a header of their own and close with `End`
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::Version { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 1 => {
                let serves = exports.into_iter().flatten().any(|export| {
                    export
                        .name
                        .name
                        .strip_prefix(HTTP_HANDLER_INTERFACE)
                        .is_some_and(|version| version.is_empty() || version.starts_with("@0.2"))
                });
                if serves {
                    return true;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Whether `bytes` start like a Wasm binary (as opposed to WAT text or anything else).
pub fn is_wasm_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(WASM_MAGIC)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    Linux,
    Wasm(WasmEntrypoint),
}

#[derive(Clone, PartialEq, Eq)]
pub struct WasmEntrypoint {
    /// Where the module is inside the container.
    pub container_path: PathBuf,
    /// The module, read once from the file that was checked.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for WasmEntrypoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEntrypoint")
            .field("container_path", &self.container_path)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The inputs of classification, borrowed from an OCI spec or an exec request.
pub struct ProcessView<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a Path,
    pub annotations: Option<&'a HashMap<String, String>>,
}

/// Decides Wasm or Linux for a process whose root filesystem is at `root` (a directory as
/// this process sees it: a bundle's rootfs, or `/proc/<pid>/root` of a running container).
pub fn classify(process: &ProcessView<'_>, root: &Path) -> Result<Workload, ClassifyError> {
    classify_with_limit(process, root, limits::max_module_bytes())
}

/// [`classify`] with an explicit cap on the size of a module.
pub fn classify_with_limit(
    process: &ProcessView<'_>,
    root: &Path,
    limit: u64,
) -> Result<Workload, ClassifyError> {
    let (policy, annotation) = WasmPolicy::from_annotations(process.annotations);
    if policy == WasmPolicy::Sandbox {
        return Ok(Workload::Linux);
    }
    let name = process.args.first().ok_or(ClassifyError::NoArgs)?;
    let root_fd = open_root(root)?;
    let (resolved, file) = match find_entrypoint(&root_fd, name, process.env, process.cwd)? {
        Some(found) => found,
        // A missing entrypoint may still come from a mount; for Linux the execve path
        // reports it (as runc does). A Wasm request must be able to read its module now.
        None if policy == WasmPolicy::Forced => {
            return Err(ClassifyError::EntrypointNotFound {
                name: name.clone(),
                searched: search_description(name, process.env),
            })
        }
        None => return Ok(Workload::Linux),
    };
    let display = resolved.display().to_string();
    let read_err = |source| ClassifyError::Read {
        path: display.clone(),
        source,
    };
    let wasm_by_name = matches!(
        resolved.extension().and_then(|e| e.to_str()),
        Some("wasm") | Some("wat")
    );
    let st = fstat(file.as_raw_fd()).map_err(|e| read_err(e.into()))?;
    let on_kernel_fs = nix::sys::statfs::fstatfs(&file)
        .is_ok_and(|fs| crate::kernelfs::is_kernel_fs_magic(fs.filesystem_type().0));
    let regular =
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG && !on_kernel_fs;
    if !regular {
        // execve refuses it with the error runc users know; Wasm cannot read it
        return match policy {
            WasmPolicy::Forced => Err(ClassifyError::NotRegular { path: display }),
            WasmPolicy::Smart if wasm_by_name => Err(ClassifyError::NotRegular { path: display }),
            _ => Ok(Workload::Linux),
        };
    }
    let mut file = reopen_for_reading(&file).map_err(read_err)?;
    let mut head = Vec::with_capacity(WASM_MAGIC.len());
    (&mut file)
        .take(WASM_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let is_wasm = head == WASM_MAGIC;
    let wasm = match policy {
        WasmPolicy::Forced if !(is_wasm || wasm_by_name) => {
            return Err(ClassifyError::NotWasm {
                path: display,
                annotation,
            })
        }
        WasmPolicy::Forced => true,
        WasmPolicy::Smart => is_wasm || wasm_by_name,
        WasmPolicy::Sniff => is_wasm,
        WasmPolicy::Sandbox => false,
    };
    if !wasm {
        return Ok(Workload::Linux);
    }
    let size = st.st_size as u64;
    if size > limit {
        return Err(ClassifyError::TooLarge {
            path: display,
            size,
            limit,
        });
    }
    let mut bytes = head;
    bytes.reserve(size as usize);
    // bounded even if the file grows after fstat
    file.take((limit + 1).saturating_sub(bytes.len() as u64))
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(ClassifyError::TooLarge {
            path: display,
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(Workload::Wasm(WasmEntrypoint {
        container_path: resolved,
        bytes,
    }))
}

/// Decides for a process whose module the caller supplied beside the rootfs (an OCI Wasm
/// artifact's layer, read from the engine's content store): Wasm, unless the annotations
/// mark the pod sandbox. `args[0]`, when there is one, names the module in errors and argv.
pub fn classify_supplied(
    process: &ProcessView<'_>,
    module: Vec<u8>,
) -> Result<Workload, ClassifyError> {
    let (policy, _) = WasmPolicy::from_annotations(process.annotations);
    if policy == WasmPolicy::Sandbox {
        return Ok(Workload::Linux);
    }
    let container_path = PathBuf::from(
        process
            .args
            .first()
            .map(String::as_str)
            .unwrap_or(SUPPLIED_MODULE_NAME),
    );
    if !is_wasm_binary(&module) {
        return Err(ClassifyError::LayerNotWasm {
            name: container_path.display().to_string(),
        });
    }
    Ok(Workload::Wasm(WasmEntrypoint {
        container_path,
        bytes: module,
    }))
}

/// argv[0] of a supplied module when the process has no args.
const SUPPLIED_MODULE_NAME: &str = "/module.wasm";

fn open_root(root: &Path) -> Result<OwnedFd, ClassifyError> {
    nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(|fd| {
        // SAFETY: open returned a new fd that nothing else owns.
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
    })
    .map_err(|e| ClassifyError::Root {
        path: root.to_path_buf(),
        source: e.into(),
    })
}

/// Opens `path` (absolute, inside the container) beneath `root`, the kernel resolving it,
/// as `O_PATH` (nothing is read, no device or FIFO acts on the open); `None` when nothing is
/// there.
pub fn open_in_root(root: &OwnedFd, path: &Path) -> Result<Option<OwnedFd>, std::io::Error> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match openat2(root.as_raw_fd(), path, how) {
        Ok(fd) => {
            // SAFETY: openat2 returned a new fd that nothing else owns.
            Ok(Some(unsafe {
                <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
            }))
        }
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reopens for reading the file an `O_PATH` descriptor holds, once it is known to be a
/// regular file on a filesystem that stores data (never procfs or sysfs, whose reads can
/// act, nor a device).
fn reopen_for_reading(fd: &OwnedFd) -> std::io::Result<File> {
    File::open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn path_var(env: &[String]) -> &str {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

fn search_description(name: &str, env: &[String]) -> String {
    if name.contains('/') {
        "the container's root".to_string()
    } else {
        format!("PATH={}", path_var(env))
    }
}

/// Finds `name` inside the container: the first candidate that opens, with the path it was
/// found at. Directories on `PATH` are skipped as execve's lookup skips them.
fn find_entrypoint(
    root: &OwnedFd,
    name: &str,
    env: &[String],
    cwd: &Path,
) -> Result<Option<(PathBuf, OwnedFd)>, ClassifyError> {
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![Path::new("/").join(cwd).join(name)]
    } else {
        path_var(env)
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new("/").join(cwd).join(dir).join(name))
            .collect()
    };
    let single = candidates.len() == 1;
    for candidate in candidates {
        let opened = open_in_root(root, &candidate).map_err(|source| ClassifyError::Read {
            path: candidate.display().to_string(),
            source,
        })?;
        let Some(fd) = opened else { continue };
        let is_dir = fstat(fd.as_raw_fd())
            .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
            .unwrap_or(false);
        if is_dir && !single {
            continue;
        }
        return Ok(Some((candidate, fd)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_a_top_level_incoming_handler_export_serves_http() {
        let component = |body: &str| wat::parse_str(format!("(component {body})")).unwrap();
        let serves =
            component(r#"(instance $h) (export "wasi:http/incoming-handler@0.2.6" (instance $h))"#);
        assert!(exports_http_handler(&serves));
        let command = component(r#"(instance $r) (export "wasi:cli/run@0.2.0" (instance $r))"#);
        assert!(!exports_http_handler(&command));
        let future =
            component(r#"(instance $h) (export "wasi:http/incoming-handler@0.3.0" (instance $h))"#);
        assert!(
            !exports_http_handler(&future),
            "only the 0.2 world is served"
        );
        // the export of a nested component is not the outer component's
        let nested = component(
            r#"(component (instance $h) (export "wasi:http/incoming-handler@0.2.0" (instance $h)))"#,
        );
        assert!(!exports_http_handler(&nested));
        let module = wat::parse_str("(module)").unwrap();
        assert!(!exports_http_handler(&module));
        assert!(!exports_http_handler(b"\0asm\x0d\0\x01\0garbage"));
    }

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        std::fs::create_dir_all(r.join("app")).unwrap();
        std::fs::write(r.join("app/hello.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(r.join("app/noext"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(r.join("bin/busybox"), b"\x7fELF\x02\x01\x01").unwrap();
        std::fs::write(r.join("bin/script"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(r.join("app/tiny"), b"\0a").unwrap();
        symlink("busybox", r.join("bin/sh")).unwrap();
        symlink("/app/noext", r.join("bin/wasmtool")).unwrap();
        symlink("../../../../app/hello.wasm", r.join("bin/escape")).unwrap();
        dir
    }

    fn view<'a>(
        args: &'a [String],
        env: &'a [String],
        ann: Option<&'a HashMap<String, String>>,
    ) -> ProcessView<'a> {
        ProcessView {
            args,
            env,
            cwd: Path::new("/"),
            annotations: ann,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn ann(k: &str, v: &str) -> HashMap<String, String> {
        HashMap::from([(k.to_string(), v.to_string())])
    }

    #[test]
    fn magic_bytes_decide_without_annotations() {
        let root = rootfs();
        let env = s(&["PATH=/bin"]);
        let wasm = classify(&view(&s(&["/app/noext"]), &env, None), root.path()).unwrap();
        assert_eq!(
            wasm,
            Workload::Wasm(WasmEntrypoint {
                container_path: PathBuf::from("/app/noext"),
                bytes: b"\0asm\x01\0\0\0".to_vec(),
            })
        );
        for linux in ["/bin/busybox", "/bin/script", "/app/tiny"] {
            let w = classify(&view(&s(&[linux]), &env, None), root.path()).unwrap();
            assert_eq!(w, Workload::Linux, "{linux}");
        }
    }

    #[test]
    fn path_lookup_and_symlinks_stay_inside_root() {
        let root = rootfs();
        let env = s(&["PATH=/usr/bin:/bin"]);
        let w = classify(&view(&s(&["wasmtool", "x"]), &env, None), root.path()).unwrap();
        let Workload::Wasm(entry) = w else {
            panic!("expected wasm, got {w:?}")
        };
        assert_eq!(entry.container_path, PathBuf::from("/bin/wasmtool"));
        // `..` past the root is clamped at the root, as the kernel does after pivot_root
        let w = classify(&view(&s(&["/bin/escape"]), &env, None), root.path()).unwrap();
        assert!(matches!(w, Workload::Wasm(_)), "{w:?}");
        assert_eq!(
            classify(&view(&s(&["sh"]), &env, None), root.path()).unwrap(),
            Workload::Linux
        );
    }

    #[test]
    fn host_files_are_never_read_through_links() {
        // a Wasm file on the "host", beside the container's root
        let host = tempfile::tempdir().unwrap();
        let secret = host.path().join("secret.wasm");
        std::fs::write(&secret, b"\0asm\x01\0\0\0host").unwrap();
        let root = host.path().join("rootfs");
        std::fs::create_dir_all(root.join("app")).unwrap();
        symlink(&secret, root.join("app/abs.wasm")).unwrap();
        symlink("../../secret.wasm", root.join("app/rel.wasm")).unwrap();
        let forced = ann(ANNOTATION_OCI_HANDLER, "wasm");
        for link in ["/app/abs.wasm", "/app/rel.wasm", "/../secret.wasm"] {
            let err = classify(&view(&s(&[link]), &[], Some(&forced)), &root).unwrap_err();
            assert!(
                matches!(err, ClassifyError::EntrypointNotFound { .. }),
                "{link}: {err}"
            );
            assert_eq!(
                classify(&view(&s(&[link]), &[], None), &root).unwrap(),
                Workload::Linux,
                "{link}"
            );
        }
    }

    #[test]
    fn special_files_and_oversized_modules_are_refused() {
        let root = rootfs();
        let fifo = root.path().join("app/fifo.wasm");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let forced = ann(ANNOTATION_OCI_HANDLER, "wasm");
        // opening a FIFO must neither block nor be read
        let err = classify(
            &view(&s(&["/app/fifo.wasm"]), &[], Some(&forced)),
            root.path(),
        )
        .unwrap_err();
        assert!(matches!(err, ClassifyError::NotRegular { .. }), "{err}");
        let big = root.path().join("app/big.wasm");
        std::fs::write(&big, [b"\0asm\x01\0\0\0".as_slice(), &[0u8; 100]].concat()).unwrap();
        let args = s(&["/app/big.wasm"]);
        let v = view(&args, &[], None);
        let err = classify_with_limit(&v, root.path(), 50).unwrap_err();
        assert!(
            matches!(err, ClassifyError::TooLarge { size: 108, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("larger than the limit of 50 bytes"),
            "{err}"
        );
        assert!(matches!(
            classify_with_limit(&v, root.path(), 108).unwrap(),
            Workload::Wasm(WasmEntrypoint { ref bytes, .. }) if bytes.len() == 108
        ));
    }

    #[test]
    fn sandbox_is_never_wasm() {
        let root = rootfs();
        let a = ann("io.kubernetes.cri.container-type", "sandbox");
        let mut forced = a.clone();
        forced.insert(ANNOTATION_WASM_VARIANT.into(), "compat".into());
        let w = classify(
            &view(&s(&["/app/hello.wasm"]), &[], Some(&forced)),
            root.path(),
        );
        assert_eq!(w.unwrap(), Workload::Linux);
    }

    #[test]
    fn forced_annotation_rejects_linux_entrypoint_and_missing_file() {
        let root = rootfs();
        let a = ann(ANNOTATION_OCI_HANDLER, "wasm");
        let err = classify(&view(&s(&["/bin/busybox"]), &[], Some(&a)), root.path()).unwrap_err();
        assert!(matches!(err, ClassifyError::NotWasm { .. }), "{err}");
        assert!(err.to_string().contains("run.oci.handler=wasm"));
        let err = classify(&view(&s(&["nope.wasm"]), &[], Some(&a)), root.path()).unwrap_err();
        assert!(err.to_string().contains("\"nope.wasm\" not found"), "{err}");
    }

    #[test]
    fn smart_annotation_only_takes_wasm_files() {
        let root = rootfs();
        let a = ann(ANNOTATION_WASM_VARIANT, "compat-smart");
        let w = classify(&view(&s(&["/bin/busybox"]), &[], Some(&a)), root.path()).unwrap();
        assert_eq!(w, Workload::Linux);
        let w = classify(&view(&s(&["/app/hello.wasm"]), &[], Some(&a)), root.path()).unwrap();
        assert!(matches!(w, Workload::Wasm(_)));
    }

    #[test]
    fn missing_entrypoint_without_annotation_is_left_to_execve() {
        let root = rootfs();
        let w = classify(&view(&s(&["/nope"]), &[], None), root.path()).unwrap();
        assert_eq!(w, Workload::Linux);
        let err = classify(&view(&[], &[], None), root.path()).unwrap_err();
        assert!(matches!(err, ClassifyError::NoArgs));
    }

    #[test]
    fn kind_reads_the_layer_field() {
        assert_eq!(WasmKind::of(b"\0asm\x01\0\0\0"), WasmKind::Module);
        assert_eq!(WasmKind::of(b"\0asm\x0d\0\x01\0"), WasmKind::Component);
        assert_eq!(WasmKind::of(b"(module)"), WasmKind::Module);
    }
}
