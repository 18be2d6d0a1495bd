//! The classifier: annotations plus the entrypoint's bytes decide Wasm or Linux
//! (crates/runwasm-wasm/src/classify.rs).
//!
//! The header readers (`WasmKind::of`, `is_wasm_binary`, `exports_http_handler`) get the
//! fuzzed bytes as they are; `classify_with_limit` gets them as a file in a scratch rootfs
//! with a fuzzed entrypoint, `PATH`, cwd, annotations and size limit, beside links that try
//! to leave the rootfs. Checked beyond "no panic":
//! - a component is a Wasm binary, and only a component serves HTTP;
//! - a pod sandbox is always Linux, a supplied layer is Wasm iff it starts with `\0asm`;
//! - what classify returns as Wasm is within the limit, is the bytes of a file inside the
//!   rootfs (never the host file beside it), and is Wasm by its magic or its name unless
//!   an annotation forced it.
#![no_main]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use runwasm_wasm::classify::{
    classify_supplied, classify_with_limit, exports_http_handler, is_wasm_binary, ClassifyError,
    WasmKind, WasmPolicy, ANNOTATION_OCI_HANDLER, ANNOTATION_WASM_VARIANT, SANDBOX_MARKERS,
};
use runwasm_wasm::{ProcessView, Workload};

/// A file outside the rootfs that links inside it point at: never to be read.
const HOST_SECRET: &[u8] = b"\0asm\x01\0\0\0HOST-SECRET-MUST-NOT-BE-READ";
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0";
const SCRIPT: &[u8] = b"#!/bin/sh\necho hi\n";

/// Where the fuzzed bytes are written inside the rootfs.
const ENTRY_FILES: [&str; 5] = [
    "app/entry",
    "app/entry.wasm",
    "app/entry.wat",
    "bin/entry",
    "app/dir.wasm/inner",
];

#[derive(Arbitrary, Debug)]
enum Key {
    Variant,
    Handler,
    Sandbox(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Compat,
    CompatSmart,
    Wasm,
    WasmSmart,
    Sandbox,
    PodSandbox,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Arg0 {
    /// One of the files and links laid out in the rootfs.
    Known(u8),
    Fuzzed(String),
    None,
}

/// Everything but the entrypoint's bytes. All zeros (no control bytes at all) is the plain
/// case: no annotations, `/app/entry` holding the bytes, the default limit.
#[derive(Arbitrary, Debug)]
struct Control {
    arg0: Arg0,
    /// Which of ENTRY_FILES gets the bytes.
    entry_file: u8,
    annotations: Option<Vec<(Key, Value)>>,
    more_args: Vec<String>,
    path_var: Option<String>,
    env: Vec<String>,
    cwd: String,
    limit: Option<u16>,
}

const DEFAULT_LIMIT: u64 = 1 << 20;

/// The input is `[n] [n control bytes] [entrypoint bytes]`, so that a seed is a real module
/// or binary behind a zero byte.
fn split(data: &[u8]) -> Option<(Control, &[u8])> {
    let (n, rest) = data
        .split_first()
        .map_or((0, data), |(n, rest)| (*n as usize, rest));
    let (control, bytes) = rest.split_at(n.min(rest.len()));
    let control = Control::arbitrary(&mut Unstructured::new(control)).ok()?;
    Some((control, bytes))
}

const KNOWN_ARG0: [&str; 14] = [
    "/app/entry",
    "/app/entry.wasm",
    "/app/entry.wat",
    "/bin/entry",
    "entry",
    "entry.wasm",
    "/app/dir.wasm",
    "/bin/link",
    "/bin/escape",
    "/bin/abs-host",
    "/bin/rel-host",
    "/../secret.wasm",
    "/bin/elf",
    "script",
];

struct Layout {
    root: PathBuf,
}

fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let base = runwasm_fuzz::scratch();
        let secret = base.join("secret.wasm");
        std::fs::write(&secret, HOST_SECRET).unwrap();
        let root = base.join("rootfs");
        for dir in ["app/dir.wasm", "bin"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("bin/elf"), ELF).unwrap();
        std::fs::write(root.join("bin/script"), SCRIPT).unwrap();
        let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at));
        link(Path::new("/app/entry"), "bin/link").unwrap();
        link(Path::new("../../../../app/entry.wasm"), "bin/escape").unwrap();
        link(&secret, "bin/abs-host").unwrap();
        link(Path::new("../../secret.wasm"), "bin/rel-host").unwrap();
        Layout { root }
    })
}

fn annotations(pairs: &[(Key, Value)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            let key = match k {
                Key::Variant => ANNOTATION_WASM_VARIANT.to_string(),
                Key::Handler => ANNOTATION_OCI_HANDLER.to_string(),
                Key::Sandbox(i) => SANDBOX_MARKERS[*i as usize % SANDBOX_MARKERS.len()]
                    .0
                    .to_string(),
                Key::Other(s) => s.clone(),
            };
            let value = match v {
                Value::Compat => "compat".into(),
                Value::CompatSmart => "compat-smart".into(),
                Value::Wasm => "wasm".into(),
                Value::WasmSmart => "wasm-smart".into(),
                Value::Sandbox => "sandbox".into(),
                Value::PodSandbox => "podsandbox".into(),
                Value::Other(s) => s.clone(),
            };
            (key, value)
        })
        .collect()
}

fn headers(bytes: &[u8]) {
    let kind = WasmKind::of(bytes);
    let binary = is_wasm_binary(bytes);
    if kind == WasmKind::Component {
        assert!(binary, "a component without the \\0asm magic");
    }
    if exports_http_handler(bytes) {
        assert_eq!(kind, WasmKind::Component, "only a component serves HTTP");
    }
}

fuzz_target!(|data: &[u8]| {
    runwasm_fuzz::selftest();
    let Some((input, bytes)) = split(data) else {
        return;
    };
    headers(bytes);
    let layout = layout();
    let ann = input.annotations.as_deref().map(annotations);
    let (policy, _) = WasmPolicy::from_annotations(ann.as_ref());

    let mut args = Vec::new();
    match &input.arg0 {
        Arg0::Known(i) => args.push(KNOWN_ARG0[*i as usize % KNOWN_ARG0.len()].to_string()),
        Arg0::Fuzzed(s) => args.push(s.clone()),
        Arg0::None => {}
    }
    args.extend(input.more_args.iter().cloned());
    let mut env = input.env.clone();
    if let Some(path) = &input.path_var {
        env.insert(0, format!("PATH={path}"));
    }
    let cwd = PathBuf::from(&input.cwd);
    let view = ProcessView {
        args: &args,
        env: &env,
        cwd: &cwd,
        annotations: ann.as_ref(),
    };

    // a supplied module (an OCI Wasm artifact's layer) is Wasm iff it has the magic
    match classify_supplied(&view, bytes.to_vec()) {
        Ok(Workload::Linux) => assert_eq!(policy, WasmPolicy::Sandbox),
        Ok(Workload::Wasm(entry)) => {
            assert!(is_wasm_binary(&entry.bytes));
            assert_eq!(entry.bytes, bytes);
        }
        Err(e) => {
            assert!(matches!(e, ClassifyError::LayerNotWasm { .. }), "{e}");
            assert!(!is_wasm_binary(bytes));
        }
    }

    let entry_file = ENTRY_FILES[input.entry_file as usize % ENTRY_FILES.len()];
    let entry_path = layout.root.join(entry_file);
    std::fs::write(&entry_path, bytes).unwrap();
    let limit = input.limit.map_or(DEFAULT_LIMIT, u64::from);
    let result = classify_with_limit(&view, &layout.root, limit);
    std::fs::remove_file(&entry_path).unwrap();

    match result {
        Ok(Workload::Linux) => {}
        Ok(Workload::Wasm(entry)) => {
            assert_ne!(policy, WasmPolicy::Sandbox, "a pod sandbox ran as Wasm");
            assert!(
                entry.bytes.len() as u64 <= limit,
                "{} bytes past the limit of {limit}",
                entry.bytes.len()
            );
            assert!(
                entry.bytes != HOST_SECRET || bytes == HOST_SECRET,
                "read a host file through a link: {:?}",
                entry.container_path
            );
            assert!(
                entry.bytes == bytes || entry.bytes == ELF || entry.bytes == SCRIPT,
                "bytes of no file in the rootfs"
            );
            let by_name = matches!(
                entry.container_path.extension().and_then(|e| e.to_str()),
                Some("wasm") | Some("wat")
            );
            if policy == WasmPolicy::Sniff {
                assert!(
                    is_wasm_binary(&entry.bytes),
                    "sniffed as Wasm without magic"
                );
            }
            if policy == WasmPolicy::Smart {
                assert!(is_wasm_binary(&entry.bytes) || by_name);
            }
        }
        Err(e) => {
            // every error names what went wrong; rendering it must not panic either
            let _ = e.to_string();
            if let ClassifyError::NotWasm { .. } | ClassifyError::EntrypointNotFound { .. } = e {
                assert_eq!(policy, WasmPolicy::Forced, "{e}");
            }
        }
    }
});
