//! `runwasm list`: runc's table (Go's text/tabwriter layout) or JSON array of the containers
//! under --root.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use runwasm_container::Runtime;

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format: table or json
    #[arg(short, long, default_value = "table")]
    format: String,
    /// Print only the container ids
    #[arg(short, long)]
    quiet: bool,
}

/// One row: a container's state plus the owner of its state directory.
struct Entry {
    state: runwasm_container::RuncState,
    owner: String,
}

pub fn print(runtime: &Runtime, root: &Path, args: &ListArgs) -> Result<()> {
    if !args.quiet && args.format != "table" && args.format != "json" {
        bail!("invalid format option");
    }
    let entries = containers(runtime, root);
    if args.quiet {
        for e in &entries {
            println!("{}", e.state.id);
        }
        return Ok(());
    }
    if args.format == "json" {
        let items = entries
            .into_iter()
            .map(|e| {
                let mut item = serde_json::to_value(&e.state)?;
                item["created"] = go_time(&e.state.created).into();
                item["owner"] = e.owner.into();
                Ok(item)
            })
            .collect::<Result<Vec<_>>>()?;
        println!("{}", serde_json::Value::Array(items));
        return Ok(());
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    rows.extend(entries.into_iter().map(|e| {
        [
            e.state.id.clone(),
            e.state.pid.to_string(),
            e.state.status.to_string(),
            e.state.bundle.display().to_string(),
            go_time(&e.state.created),
            e.owner,
        ]
    }));
    print!("{}", tabwrite(&rows));
    Ok(())
}

/// Every container under `root`, by id; entries that are no container are skipped.
fn containers(runtime: &Runtime, root: &Path) -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|id| match runtime.state(&id) {
            Ok(state) => {
                let owner = owner_of(&root.join(&id));
                Some(Entry { state, owner })
            }
            Err(e) => {
                tracing::warn!("skipping {id}: {e}");
                None
            }
        })
        .collect()
}

/// The user owning a state directory, by name, else `#UID` (as runc).
fn owner_of(dir: &Path) -> String {
    let Ok(meta) = std::fs::metadata(dir) else {
        return String::new();
    };
    let uid = nix::unistd::Uid::from_raw(meta.uid());
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("#{uid}"),
    }
}

/// Go's `time.RFC3339Nano`: nanoseconds without trailing zeros.
fn go_time(t: &DateTime<Utc>) -> String {
    let s = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}Z")
}

/// runc's `tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)`: every column but the last is as wide
/// as its widest cell plus 3, and at least 12.
fn tabwrite(rows: &[[String; 6]]) -> String {
    let mut widths = [12usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 3);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (w, cell) in widths.iter().zip(row) {
            out.push_str(&format!("{cell:<w$}"));
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_runc_layout() {
        let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
        assert_eq!(
            tabwrite(std::slice::from_ref(&header)),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
        let row = [
            "ab+c-d.e_f",
            "7418",
            "created",
            "/tmp/hx/b1",
            "2026-11-30T08:02:37.052421421Z",
            "root",
        ]
        .map(String::from);
        assert_eq!(
            tabwrite(&[header, row]),
            "ID           PID         STATUS      BUNDLE       CREATED                          OWNER\n\
             ab+c-d.e_f   7418        created     /tmp/hx/b1   2026-11-30T08:02:37.052421421Z   root\n"
        );
    }

    #[test]
    fn time_as_go_formats_it() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T08:02:37.052400000Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(go_time(&t), "2026-11-30T08:02:37.0524Z");
        let t = DateTime::parse_from_rfc3339("2026-11-30T08:02:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(go_time(&t), "2026-11-30T08:02:37Z");
    }
}
