//! `runwasm spec`: a starter config.json, runc's (a shell in a read-only rootfs), or with
//! `--wasm MODULE` one that runs a Wasm module.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use oci_spec::runtime::Spec;
use serde::Serialize;
use serde_json::{json, Value};

/// The annotation that makes a container Wasm whatever its entrypoint's bytes.
const WASM_VARIANT: (&str, &str) = ("module.wasm.image/variant", "compat");

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Directory to write config.json in (default: the current one)
    #[arg(short, long)]
    bundle: Option<PathBuf>,
    /// Write a config that runs this Wasm module (its path in the rootfs, e.g. /app.wasm)
    #[arg(long, value_name = "MODULE")]
    wasm: Option<String>,
}

/// Writes BUNDLE/config.json; an existing one is never overwritten (runc's message).
pub fn write(args: &SpecArgs, rootless: bool) -> Result<()> {
    let bundle = args.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    // runc changes into the bundle first: a missing one fails the same way
    std::fs::read_dir(&bundle).with_context(|| format!("chdir {}", bundle.display()))?;
    // tab-indented as runc writes it
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    starter(rootless, args.wasm.as_deref())?.serialize(
        &mut serde_json::Serializer::with_formatter(&mut out, formatter),
    )?;
    // create_new: no race with another writer, and no write through a dangling symlink
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(bundle.join("config.json"))
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => anyhow!("File config.json exists. Remove it first"),
            _ => anyhow!(e).context("cannot write config.json"),
        })?;
    file.write_all(&out).context("cannot write config.json")?;
    Ok(())
}

/// runc 1.1's starter spec: oci-spec's default with runc's differences; optionally for a
/// module.
fn starter(rootless: bool, wasm: Option<&str>) -> Result<Value> {
    let spec = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    let mut v = serde_json::to_value(spec)?;
    v["hostname"] = "runwasm".into();
    let process = &mut v["process"];
    process["terminal"] = true.into();
    if let Some(caps) = process["capabilities"].as_object_mut() {
        caps.remove("inheritable");
        // oci-spec keeps them in a hash set: sorted, as runc lists them
        for set in caps.values_mut().filter_map(Value::as_array_mut) {
            set.sort_by_key(|cap| cap.as_str().map(str::to_string));
        }
    }
    let linux = &mut v["linux"];
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "cgroup");
    }
    if !rootless {
        linux["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    }
    if let Some(module) = wasm {
        // a module is a batch program more often than a shell: no terminal needed
        v["process"]["terminal"] = false.into();
        v["process"]["args"] = json!([module]);
    }
    let doc = v
        .as_object_mut()
        .context("the default spec is not an object")?;
    doc.remove("annotations");
    if wasm.is_some() {
        doc.insert(
            "annotations".into(),
            json!({WASM_VARIANT.0: WASM_VARIANT.1}),
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_starter_is_runcs() {
        let spec = starter(false, None).unwrap();
        assert_eq!(spec["process"]["args"], json!(["sh"]));
        assert_eq!(spec["process"]["terminal"], json!(true));
        assert_eq!(
            spec["process"]["capabilities"]["bounding"],
            json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        );
        assert!(spec["process"]["capabilities"].get("inheritable").is_none());
        assert!(!spec["linux"]["namespaces"].to_string().contains("cgroup"));
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        assert!(spec.get("annotations").is_none());
    }

    #[test]
    fn wasm_starter_runs_the_module() {
        let spec = starter(false, Some("/app.wasm")).unwrap();
        assert_eq!(spec["process"]["args"], json!(["/app.wasm"]));
        assert_eq!(spec["process"]["terminal"], json!(false));
        assert_eq!(
            spec["annotations"],
            json!({"module.wasm.image/variant": "compat"})
        );
    }
}
