use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const EXIT_42: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.const 42))))"#;
const RETURNS: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
const TRAPS: &str = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
const REACTOR: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0))"#;
const UNKNOWN_IMPORT: &str = r#"(module (import "env" "magic" (func))
    (memory (export "memory") 1) (func (export "_start")))"#;

fn plan() -> WasiPlan {
    WasiPlan {
        args: vec!["test.wasm".into()],
        env: vec![],
        preopens: vec![],
    }
}

fn engine_without_cache() -> WasmEngine {
    WasmEngine::new(None).unwrap()
}

#[test]
fn exit_codes_follow_the_documented_mapping() {
    let engine = engine_without_cache();
    let run = |wat: &str| engine.prepare(wat.as_bytes(), "t").unwrap().run(&plan());
    assert_eq!(run(RETURNS), 0);
    assert_eq!(run(EXIT_42), 42);
    assert_eq!(run(TRAPS), EXIT_TRAP);
}

#[test]
fn a_precompiled_seed_fills_the_cache_instead_of_a_compile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let builder = engine_without_cache();
    let wasm = EXIT_42.as_bytes();
    let artifact = builder.compile_artifact(wasm, "t").unwrap();
    let mut engine = WasmEngine::new(Some(dir.path())).unwrap();
    assert_eq!(engine.engine_hash(), builder.engine_hash());
    engine.seed(PrecompiledSeed {
        engine: builder.engine_hash().to_string(),
        artifact: artifact.clone(),
    });
    assert_eq!(engine.prepare(wasm, "t").unwrap().run(&plan()), 42);
    let key = CacheKey::new(wasm, WasmKind::Module);
    let cached = std::fs::read(engine.cache().unwrap().artifact_path(&key)).unwrap();
    assert_eq!(cached, artifact, "the cache holds the seed");

    // a seed wasmtime rejects is evicted and the module compiled
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut engine = WasmEngine::new(Some(dir.path())).unwrap();
    engine.seed(PrecompiledSeed {
        engine: builder.engine_hash().to_string(),
        artifact: b"not an artifact".to_vec(),
    });
    assert_eq!(engine.prepare(wasm, "t").unwrap().run(&plan()), 42);
    let cached = std::fs::read(engine.cache().unwrap().artifact_path(&key)).unwrap();
    assert_ne!(cached, b"not an artifact", "a rejected seed is replaced");

    // a seed for another engine configuration is not used
    let mut engine = engine_without_cache();
    engine.seed(PrecompiledSeed {
        engine: "another".into(),
        artifact,
    });
    assert!(engine.seed.is_none());
}

#[test]
fn bad_modules_are_refused_before_running() {
    let engine = engine_without_cache();
    let err = engine
        .prepare(b"\0asm\x01\0\0\0\xff\xff", "/bad.wasm")
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("invalid Wasm module /bad.wasm:"),
        "{err}"
    );
    let err = engine.prepare(REACTOR.as_bytes(), "/r.wasm").err().unwrap();
    assert!(err.to_string().contains("not a WASI command"), "{err}");
    let err = engine
        .prepare(UNKNOWN_IMPORT.as_bytes(), "/i.wasm")
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::Link { .. }), "{err}");
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn a_component_exporting_a_bad_incoming_handler_is_refused_at_prepare() {
    let component = wat::parse_str(
        r#"(component (instance $h) (export "wasi:http/incoming-handler@0.2.0" (instance $h)))"#,
    )
    .unwrap();
    let err = engine_without_cache()
        .prepare(&component, "/h.wasm")
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::Link { .. }), "{err}");
    assert!(err.to_string().contains("proxy world"), "{err}");
}

#[test]
fn the_cache_is_filled_once_and_corrupt_entries_are_replaced() {
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let engine = WasmEngine::new(Some(base.path())).unwrap();
    let cache = engine.cache().expect("cache opens").clone();
    let key = CacheKey::new(EXIT_42.as_bytes(), WasmKind::Module);
    let run = || {
        engine
            .prepare(EXIT_42.as_bytes(), "t")
            .unwrap()
            .run(&plan())
    };
    assert_eq!(run(), 42);
    let artifact = cache.artifact_path(&key);
    assert!(
        cache.lookup(&key).is_some(),
        "artifact stored after the first prepare"
    );
    let stored_ino = std::fs::metadata(&artifact).unwrap().ino();
    // a hit maps the same file and does not rewrite it
    assert_eq!(run(), 42);
    assert_eq!(std::fs::metadata(&artifact).unwrap().ino(), stored_ino);
    // one flipped byte is never trusted: it is compiled again and replaced
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    assert_eq!(run(), 42);
    assert!(
        cache.lookup(&key).is_some(),
        "entry rewritten after corruption"
    );
    assert_ne!(std::fs::read(&artifact).unwrap(), bytes);
}

#[test]
fn errors_never_quote_a_file_that_is_not_a_module() {
    let engine = engine_without_cache();
    let secret = b"root:x:0:0:SECRET-MARKER:/root:/bin/sh\n";
    let err = engine.prepare(secret, "/etc/passwd").err().unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with("invalid Wasm module /etc/passwd:"),
        "{text}"
    );
    assert!(!text.contains("SECRET-MARKER"), "{text}");
    assert!(text.contains("not a Wasm binary"), "{text}");
}
