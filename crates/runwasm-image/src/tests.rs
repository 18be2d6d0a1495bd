use std::collections::HashMap;
use std::io::Read;

use super::*;

const MODULE: &[u8] = b"\0asm\x01\0\0\0";
const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

fn request(kind: ImageKind) -> ImageRequest {
    ImageRequest {
        name: "runwasm-test/app:v1".into(),
        module: MODULE.to_vec(),
        module_path: "/app.wasm".into(),
        kind,
        platform: None,
        args: vec!["hello".into()],
        env: vec!["A=b".into()],
        annotations: BTreeMap::new(),
        files: Vec::new(),
        precompiled: None,
    }
}

/// The files of a tarball by name.
fn untar(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn blob<'a>(files: &'a HashMap<String, Vec<u8>>, digest: &str) -> &'a [u8] {
    let data = &files[&format!("blobs/sha256/{}", &digest[7..])];
    assert_eq!(sha256(data), digest, "a blob's name is its digest");
    data
}

fn json_blob(files: &HashMap<String, Vec<u8>>, digest: &str) -> Value {
    serde_json::from_slice(blob(files, digest)).unwrap()
}

fn built(req: &ImageRequest) -> (BuiltImage, HashMap<String, Vec<u8>>) {
    let mut out = Vec::new();
    let image = build(req, &mut out).unwrap();
    (image, untar(&out))
}

#[test]
fn references_are_completed_as_docker_does() {
    let r = |n| full_reference(n).unwrap();
    assert_eq!(
        r("hello"),
        ("docker.io/library/hello".into(), "latest".into())
    );
    assert_eq!(r("a/b:1.0"), ("docker.io/a/b".into(), "1.0".into()));
    assert_eq!(
        r("localhost:5000/a:t"),
        ("localhost:5000/a".into(), "t".into())
    );
    assert_eq!(r("ghcr.io/x/y"), ("ghcr.io/x/y".into(), "latest".into()));
    assert!(full_reference("Upper/case").is_err());
    assert!(full_reference("a:").is_err());
    assert!(full_reference("a:t@g").is_err());
}

#[test]
fn platform_image_holds_the_module_in_its_rootfs() {
    let (image, files) = built(&request(ImageKind::Platform));
    assert_eq!(image.reference, "docker.io/runwasm-test/app:v1");
    assert_eq!(image.platform, "wasip1/wasm");
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], image.manifest.digest.as_str());
    assert_eq!(entry["platform"]["os"], "wasip1");
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/runwasm-test/app:v1"
    );
    let manifest = json_blob(&files, &image.manifest.digest);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    let config = json_blob(&files, &image.config.digest);
    assert_eq!(config["config"]["Entrypoint"], json!(["/app.wasm"]));
    assert_eq!(config["config"]["Cmd"], json!(["hello"]));
    assert_eq!(config["config"]["Env"], json!(["A=b"]));
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].media_type, OCI_LAYER_TAR);
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([image.layers[0].digest])
    );
    let layer = untar(blob(&files, &image.layers[0].digest));
    assert_eq!(layer["app.wasm"], MODULE);
    // docker load without the containerd image store
    let docker: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(docker[0]["RepoTags"], json!(["runwasm-test/app:v1"]));
}

#[test]
fn artifact_keeps_the_module_as_a_wasm_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/greeting.txt"), "hi").unwrap();
    std::os::unix::fs::symlink("greeting.txt", dir.path().join("data/link")).unwrap();
    let mut req = request(ImageKind::Artifact);
    req.files = vec![(dir.path().join("data"), "/etc/app".into())];
    let (image, files) = built(&req);
    assert_eq!(image.layers[0].media_type, WASM_LAYER);
    assert_eq!(blob(&files, &image.layers[0].digest), MODULE);
    assert!(
        !files.contains_key("manifest.json"),
        "docker's format has no raw layers"
    );
    let config = json_blob(&files, &image.config.digest);
    // only the tar layer is unpacked: containerd matches diff ids against it alone
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([image.layers[1].digest])
    );
    assert_eq!(config["layerDigests"], json!([image.layers[0].digest]));
    let data = untar(blob(&files, &image.layers[1].digest));
    assert_eq!(data["etc/app/greeting.txt"], b"hi");
    assert!(data.contains_key("etc/app/link"));
    let order: Vec<String> = tar::Archive::new(blob(&files, &image.layers[1].digest))
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(
        order,
        ["etc", "etc/app", "etc/app/greeting.txt", "etc/app/link"],
        "parents come before what they hold"
    );
}

#[test]
fn wasm_config_artifact_uses_the_cncf_config() {
    let mut req = request(ImageKind::WasmConfigArtifact);
    req.module = COMPONENT.to_vec();
    let (image, files) = built(&req);
    assert_eq!(image.platform, "wasip2/wasm");
    let manifest = json_blob(&files, &image.manifest.digest);
    assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG);
    assert_eq!(manifest["artifactType"], WASM_CONFIG);
    let config = json_blob(&files, &image.config.digest);
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], json!([image.layers[0].digest]));
}

#[test]
fn precompiled_layer_names_its_engine_and_module() {
    let mut req = request(ImageKind::Artifact);
    req.precompiled = Some(Precompiled {
        bytes: b"native".to_vec(),
        engine: "e1".into(),
    });
    let (image, files) = built(&req);
    let manifest = json_blob(&files, &image.manifest.digest);
    let layer = &manifest["layers"][1];
    assert_eq!(layer["mediaType"], PRECOMPILED_LAYER);
    assert_eq!(layer["annotations"][ANNOTATION_ENGINE], "e1");
    assert_eq!(
        layer["annotations"][ANNOTATION_MODULE_DIGEST],
        sha256(MODULE).as_str()
    );
}

#[test]
fn the_same_inputs_give_the_same_digests() {
    let (a, _) = built(&request(ImageKind::Platform));
    let (b, _) = built(&request(ImageKind::Platform));
    assert_eq!(a.manifest, b.manifest);
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let mut req = request(ImageKind::Platform);
    req.module = b"(module)".to_vec();
    let err = build(&req, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("/app.wasm is not a Wasm binary"), "{err}");
    let mut req = request(ImageKind::Platform);
    req.module_path = "app.wasm".into();
    assert!(build(&req, Vec::new()).is_err());
    let mut req = request(ImageKind::Platform);
    req.files = vec![("/etc/hostname".into(), "/../x".into())];
    let err = build(&req, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("'..' is not allowed"), "{err}");
}
