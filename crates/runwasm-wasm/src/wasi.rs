//! The WASI view of an OCI process: args, env, stdio and the directories a module may open.
//!
//! The module sees the container's root at `/` and every mount at its destination; a
//! read-only root or `ro` mount is preopened read-only (the kernel enforces it too, since
//! the module runs inside the container's mount namespace). Nothing else is preopened, so no
//! host path is reachable.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Kernel filesystems a module has no use for, and the trees they live in.
const SKIPPED_MOUNT_TYPES: [&str; 7] = [
    "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "bpf",
];
const SKIPPED_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory as the running process sees it.
    pub host: PathBuf,
    /// The name the module sees.
    pub guest: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasiPlan {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub preopens: Vec<Preopen>,
}

impl WasiPlan {
    /// The plan of the spec's process, for a process whose `/` is the container's root
    /// found at `root` (`/` inside the container, a bundle's rootfs in tests).
    pub fn from_spec(spec: &Spec, root: &Path) -> Self {
        let process = spec.process().as_ref();
        let args = process.and_then(|p| p.args().clone()).unwrap_or_default();
        let env = process
            .and_then(|p| p.env().as_ref())
            .map(|env| {
                env.iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (kv.clone(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let root_read_only = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
        let mut preopens = vec![Preopen {
            host: root.to_path_buf(),
            guest: "/".into(),
            read_only: root_read_only,
        }];
        let cwd = process.map(|p| p.cwd().clone()).unwrap_or_default();
        if cwd.is_absolute() && cwd != Path::new("/") {
            // relative paths in a WASI p1 guest resolve against the `.` preopen
            preopens.push(Preopen {
                host: inside(root, &cwd),
                guest: ".".into(),
                read_only: root_read_only,
            });
        }
        for mount in spec.mounts().iter().flatten() {
            let dest = mount.destination();
            let typ = mount.typ().as_deref().unwrap_or("");
            if SKIPPED_MOUNT_TYPES.contains(&typ)
                || SKIPPED_TREES.iter().any(|tree| dest.starts_with(tree))
                || dest == Path::new("/")
            {
                continue;
            }
            let read_only = mount
                .options()
                .iter()
                .flatten()
                .any(|opt| opt == "ro" || opt == "rro");
            preopens.push(Preopen {
                host: inside(root, dest),
                guest: dest.display().to_string(),
                read_only,
            });
        }
        Self {
            args,
            env,
            preopens,
        }
    }

    /// The plan of a context built once per request, settled once: no preopens for a
    /// program that cannot see them (it does not import `wasi:filesystem/preopens`), and
    /// otherwise only the directories ([`Self::builder`] would try, and fail, to open a
    /// bind-mounted file such as /etc/hosts as one for every request).
    pub fn for_each_request(&self, sees_preopens: bool) -> Self {
        let mut plan = self.clone();
        if sees_preopens {
            plan.preopens.retain(|preopen| preopen.host.is_dir());
        } else {
            plan.preopens.clear();
        }
        plan
    }

    /// A WASI context builder with this plan and the process's own stdio.
    pub fn builder(&self) -> wasmtime::Result<WasiCtxBuilder> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .args(&self.args)
            .envs(&self.env)
            .inherit_stdio()
            .allow_blocking_current_thread(true);
        for preopen in &self.preopens {
            let perms = if preopen.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            if let Err(e) = builder.preopened_dir(&preopen.host, &preopen.guest, perms) {
                // a mount of a single file is not a directory: it stays reachable through `/`
                tracing::debug!("not preopening {}: {e:#}", preopen.guest);
            }
        }
        Ok(builder)
    }
}

fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plan_follows_the_process_and_mounts() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
            "process":{"cwd":"/work","args":["/app.wasm","a b"],"env":["A=1","B=x=y","C"],
                       "user":{"uid":0,"gid":0}},
            "mounts":[
              {"destination":"/proc","type":"proc","source":"proc"},
              {"destination":"/dev/shm","type":"tmpfs","source":"shm"},
              {"destination":"/data","type":"bind","source":"/host/data","options":["rbind","rw"]},
              {"destination":"/config","type":"bind","source":"/host/cfg","options":["rbind","ro"]}
            ]}"#,
        );
        let plan = WasiPlan::from_spec(&s, Path::new("/r"));
        assert_eq!(plan.args, vec!["/app.wasm", "a b"]);
        assert_eq!(
            plan.env,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        let view: Vec<(&str, &str, bool)> = plan
            .preopens
            .iter()
            .map(|p| (p.guest.as_str(), p.host.to_str().unwrap(), p.read_only))
            .collect();
        assert_eq!(
            view,
            vec![
                ("/", "/r", true),
                (".", "/r/work", true),
                ("/data", "/r/data", false),
                ("/config", "/r/config", true),
            ]
        );
    }

    #[test]
    fn a_request_plan_opens_only_directories_and_only_when_the_program_sees_them() {
        let root = std::env::temp_dir().join(format!("runwasm-plan-{}", std::process::id()));
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "").unwrap();
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["/a.wasm"],"user":{"uid":0,"gid":0}},
            "mounts":[
              {"destination":"/data","type":"bind","source":"/host/data","options":["rbind","rw"]},
              {"destination":"/etc/hosts","type":"bind","source":"/host/hosts","options":["rbind","ro"]},
              {"destination":"/gone","type":"bind","source":"/host/gone","options":["rbind","ro"]}
            ]}"#,
        );
        let plan = WasiPlan::from_spec(&s, &root);
        assert_eq!(plan.preopens.len(), 4);
        let guests = |plan: &WasiPlan| -> Vec<String> {
            plan.preopens.iter().map(|p| p.guest.clone()).collect()
        };
        assert_eq!(guests(&plan.for_each_request(true)), vec!["/", "/data"]);
        assert!(plan.for_each_request(false).preopens.is_empty());
        // what is not a preopen is unchanged
        assert_eq!(plan.for_each_request(false).args, plan.args);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
