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
//! Symlinks are followed but never leave the root.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

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
const MAX_SYMLINKS: usize = 40;

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
    #[error("cannot read entrypoint {path:?}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("too many levels of symbolic links resolving {0:?}")]
    SymlinkLoop(String),
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    Linux,
    Wasm(WasmEntrypoint),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmEntrypoint {
    /// Where the module is, as seen from the caller (the container's root joined in).
    pub host_path: PathBuf,
    /// Where the module is inside the container.
    pub container_path: PathBuf,
}

/// The inputs of classification, borrowed from an OCI spec or an exec request.
pub struct ProcessView<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a Path,
    pub annotations: Option<&'a HashMap<String, String>>,
}

/// Decides Wasm or Linux for a process whose root filesystem is at `root`.
pub fn classify(process: &ProcessView<'_>, root: &Path) -> Result<Workload, ClassifyError> {
    let (policy, annotation) = WasmPolicy::from_annotations(process.annotations);
    if policy == WasmPolicy::Sandbox {
        return Ok(Workload::Linux);
    }
    let name = process.args.first().ok_or(ClassifyError::NoArgs)?;
    let resolved = match resolve_entrypoint(name, process.env, process.cwd, root)? {
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
    let host_path = join_in_root(root, &resolved)?;
    let is_wasm = has_wasm_magic(&host_path)?;
    let wasm_by_name = matches!(
        resolved.extension().and_then(|e| e.to_str()),
        Some("wasm") | Some("wat")
    );
    let wasm = match policy {
        WasmPolicy::Forced if !(is_wasm || wasm_by_name) => {
            return Err(ClassifyError::NotWasm {
                path: resolved.display().to_string(),
                annotation,
            })
        }
        WasmPolicy::Forced => true,
        WasmPolicy::Smart => is_wasm || wasm_by_name,
        WasmPolicy::Sniff => is_wasm,
        WasmPolicy::Sandbox => false,
    };
    Ok(if wasm {
        Workload::Wasm(WasmEntrypoint {
            host_path,
            container_path: resolved,
        })
    } else {
        Workload::Linux
    })
}

fn has_wasm_magic(path: &Path) -> Result<bool, ClassifyError> {
    let read_err = |source| ClassifyError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(read_err)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]).map_err(read_err)? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(&head == WASM_MAGIC)
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

/// Resolves `name` to an absolute path inside the container, or `None` if no regular file
/// is there.
fn resolve_entrypoint(
    name: &str,
    env: &[String],
    cwd: &Path,
    root: &Path,
) -> Result<Option<PathBuf>, ClassifyError> {
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![Path::new("/").join(cwd).join(name)]
    } else {
        path_var(env)
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new("/").join(cwd).join(dir).join(name))
            .collect()
    };
    for candidate in candidates {
        let inside = resolve_in_root(root, &candidate)?;
        if join_in_root(root, &inside)?.is_file() {
            return Ok(Some(inside));
        }
    }
    Ok(None)
}

fn join_in_root(root: &Path, inside: &Path) -> Result<PathBuf, ClassifyError> {
    Ok(root.join(inside.strip_prefix("/").unwrap_or(inside)))
}

/// Resolves `path` (absolute, inside the container) following symlinks as if `root` were
/// `/`: `..` stops at the root and absolute link targets restart at the root. Returns the
/// resolved path inside the container. Missing components are kept as they are.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, ClassifyError> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
    let mut hops = 0;
    while let Some(next) = pending.pop() {
        let mut components = next.components().peekable();
        while let Some(component) = components.next() {
            match component {
                Component::RootDir => resolved = PathBuf::from("/"),
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(part) => {
                    let candidate = resolved.join(part);
                    let on_host = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
                    match std::fs::read_link(&on_host) {
                        Ok(target) => {
                            hops += 1;
                            if hops > MAX_SYMLINKS {
                                return Err(ClassifyError::SymlinkLoop(path.display().to_string()));
                            }
                            let rest: PathBuf = components.collect();
                            if !rest.as_os_str().is_empty() {
                                pending.push(rest);
                            }
                            pending.push(target);
                            break;
                        }
                        Err(_) => resolved = candidate,
                    }
                }
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

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
                host_path: root.path().join("app/noext"),
                container_path: PathBuf::from("/app/noext"),
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
        assert_eq!(entry.container_path, PathBuf::from("/app/noext"));
        // `..` past the root is clamped at the root, as the kernel does after pivot_root
        assert_eq!(
            resolve_in_root(root.path(), Path::new("/bin/escape")).unwrap(),
            PathBuf::from("/app/hello.wasm")
        );
        assert_eq!(
            classify(&view(&s(&["sh"]), &env, None), root.path()).unwrap(),
            Workload::Linux
        );
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
