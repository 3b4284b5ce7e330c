//! Typed, layered configuration.
//!
//! Every CloudCord process reads its settings the same way, later layers winning:
//!
//! 1. the defaults written in the settings structs (`#[serde(default)]`),
//! 2. an optional TOML file, named by `--config` or the `CLOUDCORD_CONFIG` variable,
//! 3. environment variables `CLOUDCORD__SECTION__KEY`, e.g.
//!    `CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS=10.0.0.5:9092`.
//!
//! This module is the only place that reads the process environment for settings;
//! everything below receives typed values.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "CLOUDCORD";

/// Environment variable naming the configuration file, when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "CLOUDCORD_CONFIG";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named configuration file does not exist.
    #[error("configuration file {} does not exist (named by --config or {CONFIG_FILE_ENV})", .0.display())]
    MissingFile(PathBuf),
    /// A value could not be read or has the wrong type.
    #[error("invalid configuration")]
    Invalid(#[from] config::ConfigError),
}

/// Builds a settings value from defaults, an optional file and the environment.
#[derive(Debug, Default)]
pub struct Loader {
    file: Option<PathBuf>,
    defaults: Vec<(String, String)>,
}

impl Loader {
    /// A loader that reads the file named by `CLOUDCORD_CONFIG`, if that is set.
    pub fn from_environment() -> Self {
        Self {
            file: std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from),
            defaults: Vec::new(),
        }
    }

    /// Reads `path` as the configuration file instead (when `Some`).
    pub fn file(mut self, path: Option<&Path>) -> Self {
        if let Some(path) = path {
            self.file = Some(path.to_owned());
        }
        self
    }

    /// Overrides a built-in default (a dotted key such as `telemetry.format`) for this
    /// process; the file and the environment still win over it.
    pub fn default_value(mut self, key: &str, value: &str) -> Self {
        self.defaults.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Reads the layers and deserializes them into `T`.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let mut builder = config::Config::builder();
        for (key, value) in &self.defaults {
            builder = builder.set_default(key.as_str(), value.as_str())?;
        }
        if let Some(path) = &self.file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.clone()));
            }
            builder = builder.add_source(config::File::from(path.as_path()));
        }
        let env = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__");
        Ok(builder.add_source(env).build()?.try_deserialize()?)
    }
}
