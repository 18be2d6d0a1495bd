//! Compiles in a child process. A test binary of its own: forking is only safe while no
//! other thread holds a lock the child needs, so this is the binary's one test.

use std::time::Duration;

use runwasm_wasm::compile::{compile_in_child, CompileError};
use runwasm_wasm::{CompileLimits, WasiPlan, WasmEngine, WasmKind};

const EXIT_42: &str = r#"(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.const 42))))"#;

#[test]
fn compiles_in_a_child_and_reports_each_limit() {
    let roomy = CompileLimits {
        memory: 512 << 20,
        timeout: Duration::from_secs(60),
    };
    let mut engine = WasmEngine::new(None).unwrap();
    engine.isolate_compiles(roomy);
    let plan = WasiPlan {
        args: vec!["t".into()],
        env: vec![],
        preopens: vec![],
    };
    let prepared = engine.prepare(EXIT_42.as_bytes(), "t").expect("compiles");
    assert_eq!(prepared.run(&plan), 42, "the child's artifact runs");

    let err = engine
        .prepare(b"\0asm\x01\0\0\0\xff", "/bad.wasm")
        .err()
        .expect("a bad module is refused");
    assert!(
        err.to_string()
            .starts_with("invalid Wasm module /bad.wasm:"),
        "{err}"
    );

    // many large function bodies: far more than 1 MiB of compiler memory
    let body = "(drop (i32.add (i32.const 1) (i32.const 2)))".repeat(2000);
    let funcs: String = (0..200).map(|_| format!("(func {body})")).collect();
    let big = format!(r#"(module {funcs} (func (export "_start")))"#);
    let tight = CompileLimits {
        memory: 1 << 20,
        timeout: Duration::from_secs(60),
    };
    let wasmtime_engine = wasmtime::Engine::default();
    let err =
        compile_in_child(&wasmtime_engine, big.as_bytes(), WasmKind::Module, &tight).unwrap_err();
    assert!(matches!(err, CompileError::Memory(_)), "{err}");
    let mut limited = WasmEngine::new(None).unwrap();
    limited.isolate_compiles(tight);
    let err = limited.prepare(big.as_bytes(), "/big.wasm").err().unwrap();
    assert!(
        err.to_string().starts_with(
            "compiling Wasm module /big.wasm exceeded its memory limit of 1048576 bytes"
        ),
        "{err}"
    );

    // an endless compile is stopped at the timeout
    let quick = CompileLimits {
        memory: 512 << 20,
        timeout: Duration::from_millis(300),
    };
    let huge: String = (0..3000).map(|_| format!("(func {body})")).collect();
    let slow = format!(r#"(module {huge} (func (export "_start")))"#);
    let err =
        compile_in_child(&wasmtime_engine, slow.as_bytes(), WasmKind::Module, &quick).unwrap_err();
    assert!(matches!(err, CompileError::Timeout(_)), "{err}");
}
