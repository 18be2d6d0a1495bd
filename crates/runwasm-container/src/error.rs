use std::path::PathBuf;

/// Everything that can go wrong in a container operation; each variant keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("invalid {path}: {reason}")]
    InvalidConfig { path: PathBuf, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Classify(#[from] runwasm_wasm::classify::ClassifyError),
    #[error(transparent)]
    Wasm(#[from] runwasm_wasm::EngineError),
    #[error(transparent)]
    ServeSetting(#[from] runwasm_wasm::serve::SettingError),
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    #[error("container {id:?}: its state file is empty or cut short ({reason})")]
    StateCutShort { id: String, reason: String },
    #[error("{0}")]
    Libcontainer(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("container {id:?} is {status}, {action} needs it {needed}")]
    WrongStatus {
        id: String,
        status: String,
        action: &'static str,
        needed: &'static str,
    },
}

impl From<libcontainer::error::LibcontainerError> for ContainerError {
    fn from(err: libcontainer::error::LibcontainerError) -> Self {
        // libcontainer's top-level messages are terse ("oci spec error"); keep the chain
        Self::Libcontainer(error_chain(&err))
    }
}

/// `error: cause: cause`, skipping links that repeat the previous one.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
