//! In-process timing of the compile cache, for `make bench`:
//! `cache_bench MODULE.wasm RUNS` prints JSON with the cold start (compile + store into an
//! empty cache), the warm starts (verify + map the artifact + link) and run (instantiate and
//! run `_start`) times, in milliseconds.

use std::time::Instant;

use runwasm_wasm::{WasiPlan, WasmEngine};

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&args[1]);
    let runs: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10);
    let cache = tempfile_dir();
    let plan = WasiPlan {
        args: vec!["large.wasm".into()],
        env: vec![],
        preopens: vec![],
    };

    let engine = WasmEngine::new(Some(&cache)).expect("engine");
    let start = Instant::now();
    let first = engine
        .prepare(&std::fs::read(path).expect("read"), "large.wasm")
        .expect("prepare");
    let cold = ms(start);
    assert_eq!(first.run(&plan), 0);

    let mut warm = Vec::new();
    let mut run = Vec::new();
    for _ in 0..runs {
        // a fresh engine each time, as a new `runwasm create` process has
        let engine = WasmEngine::new(Some(&cache)).expect("engine");
        let start = Instant::now();
        let bytes = std::fs::read(path).expect("read");
        let prepared = engine.prepare(&bytes, "large.wasm").expect("prepare");
        warm.push(ms(start));
        let start = Instant::now();
        assert_eq!(prepared.run(&plan), 0);
        run.push(ms(start));
    }
    let warm_median = median(warm.clone());
    println!(
        "{{\"module_bytes\":{},\"cold_ms\":{cold:.2},\"warm_median_ms\":{warm_median:.2},\"warm_min_ms\":{:.2},\"warm_max_ms\":{:.2},\"run_median_ms\":{:.2},\"speedup\":{:.1}}}",
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        warm.iter().cloned().fold(f64::MAX, f64::min),
        warm.iter().cloned().fold(0.0, f64::max),
        median(run),
        cold / warm_median
    );
    let _ = std::fs::remove_dir_all(&cache);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("runwasm-cache-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cache dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}
