//! config.json -> the WASI plan and the wasi:http settings: the bytes are a bundle's
//! config.json, read by runwasm_container::runtime::load_spec as `runwasm create` reads it,
//! then turned into the module's WASI view (WasiPlan::from_spec and its builder), the serve
//! settings (ServeSettings::from_spec), the classifier's policy and the memory limit.
//! Checked beyond "no panic":
//! - `/` is the first preopen and kernel trees (/proc, /sys, /dev) are never preopened;
//! - the environment's names hold no `=`, args are the spec's;
//! - serve settings within their documented bounds.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runwasm_wasm::classify::WasmPolicy;
use runwasm_wasm::serve::settings::MAX_CONCURRENCY_LIMIT;
use runwasm_wasm::{limits, ServeSettings, WasiPlan};

fn bundle() -> &'static Path {
    static BUNDLE: OnceLock<std::path::PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = runwasm_fuzz::scratch().join("bundle");
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    runwasm_fuzz::selftest();
    let bundle = bundle();
    std::fs::write(bundle.join("config.json"), data).unwrap();
    let Ok(spec) = runwasm_container::runtime::load_spec(bundle) else {
        return;
    };

    // the module's root as the container's init sees it, and as a bundle's rootfs
    for root in [Path::new("/"), &bundle.join("rootfs")] {
        let plan = WasiPlan::from_spec(&spec, root);
        let first = plan.preopens.first().expect("the root is always preopened");
        assert_eq!(first.guest, "/");
        assert_eq!(first.host, root);
        for preopen in &plan.preopens[1..] {
            if preopen.guest == "." {
                continue;
            }
            let guest = Path::new(&preopen.guest);
            assert!(
                ["/proc", "/sys", "/dev"]
                    .iter()
                    .all(|t| !guest.starts_with(t)),
                "a kernel tree preopened: {preopen:?}"
            );
            assert_ne!(guest, Path::new("/"), "the root preopened twice");
        }
        for (name, _) in &plan.env {
            assert!(!name.contains('='), "env name {name:?}");
        }
        let args = spec.process().as_ref().and_then(|p| p.args().clone());
        assert_eq!(plan.args, args.unwrap_or_default());
    }
    // the builder preopens what exists (nothing does beneath the empty rootfs)
    let plan = WasiPlan::from_spec(&spec, &bundle.join("rootfs"));
    let _ = plan.builder();

    match ServeSettings::from_spec(&spec) {
        Ok(settings) => {
            assert!((1..=MAX_CONCURRENCY_LIMIT).contains(&settings.max_concurrency));
            assert!(settings.queue_timeout.as_millis() <= 600_000);
            assert!(settings.grace_period.as_secs() <= 3600);
            assert_eq!(settings.memory_limit, limits::container_memory_limit(&spec));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Some(limit) = limits::container_memory_limit(&spec) {
        assert!(limit > 0);
    }
    let _ = WasmPolicy::from_annotations(spec.annotations().as_ref());
});
