//! The runwasm command line: fuzzed argv (NUL-separated arguments, any bytes, not only
//! UTF-8) through clap's parser of runwasm::cli::Cli as `runwasm` parses its own, then what
//! main does next: the container id check, the failure mode, and for a usage error its
//! messages (clap's and the logrus line). Checked beyond "no panic": an id that
//! commands::validate_id accepts is one runc would accept (`^[\w+-.]+$`, not `.` or `..`),
//! so it can only name a directory directly under --root.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Once;

use clap::{CommandFactory, Parser};
use libfuzzer_sys::fuzz_target;
use runwasm::cli::Cli;
use runwasm::{commands, logging};

fn check_id(id: &str) {
    let ok = commands::validate_id(id).is_ok();
    let runc = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    assert_eq!(ok, runc, "validate_id({id:?})");
    if ok {
        assert!(!id.contains('/') && !id.contains('\0'));
        let under = std::path::Path::new("/run/runwasm").join(id);
        assert_eq!(under.parent(), Some(std::path::Path::new("/run/runwasm")));
    }
}

fuzz_target!(|data: &[u8]| {
    runwasm_fuzz::selftest();
    static CHECKED: Once = Once::new();
    // clap's own consistency checks of the command definition, once per process
    CHECKED.call_once(|| Cli::command().debug_assert());

    let mut argv = vec![OsString::from("runwasm")];
    if !data.is_empty() {
        argv.extend(
            data.split(|&b| b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }
    match Cli::try_parse_from(argv) {
        Ok(cli) => {
            let (code, prefix) = cli.command.failure();
            assert!(code == 1 || (code == 255 && prefix.is_some()));
            if let Some(id) = cli.command.container_id() {
                check_id(id);
            }
        }
        Err(e) => {
            let text = e.to_string();
            let _ = e.render();
            let _ = e.use_stderr();
            let line = logging::usage_error_line(&text);
            assert!(
                !line.contains('\n'),
                "a logrus line over two lines: {line:?}"
            );
        }
    }
    // the id rule on the raw bytes too, whatever the parser made of them
    if let Ok(text) = std::str::from_utf8(data) {
        check_id(text);
    }
});
