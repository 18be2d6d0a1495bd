//! `runwasm image build`: packs a Wasm module into an image tarball that `ctr image import`,
//! `docker load`, `podman load` and skopeo read, since no registry tool here builds one.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use runwasm_image::{ImageKind, ImageRequest, Precompiled};

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Write an OCI image layout tarball holding a Wasm module
    Build(BuildArgs),
}

/// The config of an OCI Wasm artifact.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactConfig {
    /// An OCI image config: runs through every containerd client (ctr, CRI, Docker)
    Oci,
    /// application/vnd.wasm.config.v0+json, the CNCF layout's own (ctr run refuses it)
    Wasm,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The Wasm module or component (a binary .wasm file)
    module: PathBuf,
    /// Image name, NAME[:TAG]
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    name: String,
    /// Where to write the tarball
    #[arg(short, long, value_name = "OUT.tar")]
    output: PathBuf,
    /// An OCI Wasm artifact: the module as an application/wasm layer, never unpacked
    #[arg(long)]
    artifact: bool,
    /// With --artifact: which config the artifact carries
    #[arg(long, value_enum, default_value = "oci", requires = "artifact")]
    artifact_config: ArtifactConfig,
    /// OS/ARCH of the image (default wasip1/wasm for a module, wasip2/wasm for a component;
    /// Docker documents wasi/wasm)
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// The module's path in the container (default: /NAME.wasm from the module's file name)
    #[arg(long, value_name = "PATH")]
    entrypoint: Option<String>,
    /// Add a host file or directory at a path in the container (HOST:GUEST), repeatable
    #[arg(long = "file", value_name = "HOST:GUEST")]
    files: Vec<String>,
    /// Set an environment variable (KEY=VALUE), repeatable
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Add a manifest annotation (KEY=VALUE), repeatable
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// With --artifact: add the module compiled for this runwasm's engine as a layer, which
    /// the shim uses on a compile-cache miss when it trusts images' native code
    /// (RUNWASM_TRUST_PRECOMPILED=1)
    #[arg(long, requires = "artifact")]
    precompile: bool,
    /// Arguments after the module (the image's CMD)
    #[arg(last = true)]
    args: Vec<String>,
}

fn key_value<'a>(what: &str, s: &'a str) -> Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("invalid {what} '{s}': expected KEY=VALUE"),
    }
}

fn request(args: &BuildArgs) -> Result<ImageRequest> {
    let module = std::fs::read(&args.module)
        .with_context(|| format!("reading module {}", args.module.display()))?;
    let module_path = match &args.entrypoint {
        Some(path) => path.clone(),
        None => {
            let file = args
                .module
                .file_name()
                .context("the module path has no file name")?;
            format!("/{}", file.to_string_lossy())
        }
    };
    let platform = match &args.platform {
        None => None,
        Some(p) => match p.split_once('/') {
            Some((os, arch)) if !os.is_empty() && !arch.is_empty() && !arch.contains('/') => {
                Some((os.to_string(), arch.to_string()))
            }
            _ => bail!("invalid --platform '{p}': expected OS/ARCH, e.g. wasi/wasm"),
        },
    };
    let files = args
        .files
        .iter()
        .map(|f| match f.split_once(':') {
            Some((host, guest)) if !host.is_empty() && guest.starts_with('/') => {
                Ok((PathBuf::from(host), guest.to_string()))
            }
            _ => bail!("invalid --file '{f}': expected HOST:GUEST with an absolute GUEST path"),
        })
        .collect::<Result<_>>()?;
    for env in &args.env {
        key_value("--env", env)?;
    }
    let annotations = args
        .annotations
        .iter()
        .map(|a| key_value("--annotation", a).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let kind = match (args.artifact, args.artifact_config) {
        (false, _) => ImageKind::Platform,
        (true, ArtifactConfig::Oci) => ImageKind::Artifact,
        (true, ArtifactConfig::Wasm) => ImageKind::WasmConfigArtifact,
    };
    let precompiled = if args.precompile {
        let engine = runwasm_wasm::WasmEngine::new(None)?;
        let name = module_path.clone();
        Some(Precompiled {
            bytes: engine.compile_artifact(&module, &name)?,
            engine: engine.engine_hash().to_string(),
        })
    } else {
        None
    };
    Ok(ImageRequest {
        name: args.name.clone(),
        module,
        module_path,
        kind,
        platform,
        args: args.args.clone(),
        env: args.env.clone(),
        annotations,
        files,
        precompiled,
    })
}

pub fn run(command: &ImageCommand) -> Result<()> {
    let ImageCommand::Build(args) = command;
    let req = request(args)?;
    // written beside the target and renamed: a failed build leaves no half tarball
    let dir = args
        .output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    let mut out = BufWriter::new(tmp.as_file());
    let image = runwasm_image::build(&req, &mut out)?;
    out.flush()
        .with_context(|| format!("writing {}", args.output.display()))?;
    drop(out);
    // readable by the engines' import, as any file the user's umask would give
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", args.output.display()))?;
    tmp.persist(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{}: {} ({}, {} {})",
        args.output.display(),
        image.reference,
        image.platform,
        if args.artifact { "artifact" } else { "image" },
        image.manifest.digest
    );
    Ok(())
}
