//! `warden serve --config FILE` (or `WARDEN_CONFIG`): a TOML file whose keys are the long names of the
//! `serve` flags (`listen = "[::]:8080"`, `data-dir = "/var/lib/warden"`, `allowed-hosts = [..]`).
//!
//! Precedence: a flag on the command line > its `WARDEN_*` variable > the file > the default. The file
//! is applied by handing its values to clap as if they were flags, but only for the flags whose value
//! came from neither the command line nor the environment; so every value is validated by the same
//! parser whatever its source. [`Loaded::describe`] prints the values in force with their sources
//! (`warden serve --print-config`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use crate::config::Cli;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad command-line arguments or environment values (clap prints these itself).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("the config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Where a value in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Environment,
    ConfigFile,
    Default,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::CommandLine => "command line",
            Source::Environment => "environment",
            Source::ConfigFile => "config file",
            Source::Default => "default",
        }
    }
}

/// The parsed command line with the config file applied.
#[derive(Debug)]
pub struct Loaded {
    pub cli: Cli,
    /// For `serve`: every visible flag that has a value, its values and their source.
    pub values: Vec<(String, Vec<String>, Source)>,
}

impl Loaded {
    /// The values in force as TOML lines, each with a comment naming its source.
    pub fn values_description(&self) -> String {
        let mut out = String::new();
        for (key, values, source) in &self.values {
            let quoted: Vec<String> = values.iter().map(|v| toml_string(v)).collect();
            let value = match quoted.as_slice() {
                [one] => one.clone(),
                many => format!("[{}]", many.join(", ")),
            };
            out.push_str(&format!("{key} = {value}  # {}\n", source.label()));
        }
        out
    }
}

/// Parses `argv` (program name first) and applies the config file of `serve`, if any.
pub fn load(argv: Vec<OsString>) -> Result<Loaded, ConfigError> {
    let matches = Cli::command().try_get_matches_from(argv.clone())?;
    let Some(("serve", serve)) = matches.subcommand() else {
        let cli = Cli::from_arg_matches(&matches)?;
        return Ok(Loaded {
            cli,
            values: Vec::new(),
        });
    };
    let mut from_file = Vec::new();
    let mut argv = argv;
    if let Some(path) = serve.get_one::<PathBuf>("config") {
        let table = read_table(path)?;
        let command = Cli::command();
        let serve_command = command
            .find_subcommand("serve")
            .ok_or_else(|| invalid(path, "no `serve` command".to_string()))?;
        for (key, value) in &table {
            let arg = serve_command
                .get_arguments()
                .find(|a| a.get_long() == Some(key.as_str()))
                .filter(|a| !matches!(a.get_id().as_str(), "config" | "print_config"))
                .ok_or_else(|| {
                    invalid(
                        path,
                        format!(
                            "unknown key `{key}` (keys are the long names of `warden serve` flags, e.g. `listen`, `data-dir`)"
                        ),
                    )
                })?;
            let id = arg.get_id().as_str();
            if matches!(
                serve.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                continue;
            }
            for value in scalars(path, key, value)? {
                if arg.get_action().takes_values() {
                    argv.push(OsString::from(format!("--{key}={value}")));
                } else if value == "true" {
                    argv.push(OsString::from(format!("--{key}")));
                } else if value != "false" {
                    return Err(invalid(path, format!("`{key}` is true or false")));
                }
            }
            from_file.push(id.to_string());
        }
    }
    let matches = Cli::command().try_get_matches_from(argv).map_err(|e| {
        match serve.get_one::<PathBuf>("config") {
            Some(path) if !from_file.is_empty() => invalid(path, e.to_string()),
            _ => ConfigError::Usage(e),
        }
    })?;
    let cli = Cli::from_arg_matches(&matches)?;
    let values = match matches.subcommand() {
        Some(("serve", serve)) => values_in_force(serve, &from_file),
        _ => Vec::new(),
    };
    Ok(Loaded { cli, values })
}

/// Every visible flag of `serve` that has a value, with its source.
fn values_in_force(
    serve: &clap::ArgMatches,
    from_file: &[String],
) -> Vec<(String, Vec<String>, Source)> {
    let command = Cli::command();
    let Some(serve_command) = command.find_subcommand("serve") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arg in serve_command.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || matches!(id, "print_config" | "help") {
            continue;
        }
        let Some(raw) = serve.get_raw(id) else {
            continue;
        };
        let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
        if values.is_empty() {
            continue;
        }
        let source = if from_file.iter().any(|f| f == id) {
            Source::ConfigFile
        } else {
            match serve.value_source(id) {
                Some(ValueSource::CommandLine) => Source::CommandLine,
                Some(ValueSource::EnvVariable) => Source::Environment,
                _ => Source::Default,
            }
        };
        out.push((long.to_string(), values, source));
    }
    out
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// A value as flag values: a string, number or boolean is one value, an array one per element.
fn scalars(path: &Path, key: &str, value: &toml::Value) -> Result<Vec<String>, ConfigError> {
    let one = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(invalid(
            path,
            format!("`{key}` must be a string, number, boolean or an array of them"),
        )),
    };
    match value {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

fn invalid(path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Command;

    fn serve_args(loaded: &Loaded) -> &crate::config::ServeArgs {
        match &loaded.cli.command {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    // These tests use flags that have no environment variable set in the test process (the env
    // precedence is tested against the real binary: tests/tests/config_file.rs).
    #[test]
    fn the_file_fills_what_the_command_line_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warden.toml");
        std::fs::write(
            &file,
            "# comment\ntls-cert = \"/etc/c.pem\"\ntls-key = \"/etc/k.pem\"\nallowed-hosts = [\"a.example\", \"b.example\"]\nmax-connections = 12\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let loaded = load(argv(&[
            "warden",
            "serve",
            "--config",
            path,
            "--max-connections",
            "7",
        ]))
        .unwrap();
        let a = serve_args(&loaded);
        assert_eq!(a.tls_cert.as_deref(), Some(Path::new("/etc/c.pem")));
        assert_eq!(a.extra_host_names(), ["a.example", "b.example"]);
        assert_eq!(a.max_connections, 7, "the flag wins");
        let described = loaded.values_description();
        assert!(
            described.contains("max-connections = \"7\"  # command line"),
            "{described}"
        );
        assert!(
            described.contains("tls-cert = \"/etc/c.pem\"  # config file"),
            "{described}"
        );
        assert!(
            described.contains("allowed-hosts = [\"a.example\", \"b.example\"]  # config file"),
            "{described}"
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("warden.toml");
        let path = file.to_str().unwrap().to_string();
        let run = |text: &str| {
            std::fs::write(&file, text).unwrap();
            load(argv(&["warden", "serve", "--config", &path]))
                .unwrap_err()
                .to_string()
        };
        assert!(run("listen = ").contains("not valid TOML"));
        let e = run("lisen = \"127.0.0.1:1\"\n");
        assert!(
            e.contains("unknown key `lisen`") && e.contains(&path),
            "{e}"
        );
        let e = run("max-connections = 0\n");
        assert!(e.contains(&path), "{e}");
        let e = run("listen = { a = 1 }\n");
        assert!(e.contains("must be a string"), "{e}");
        let e = run("config = \"/x\"\n");
        assert!(e.contains("unknown key `config`"), "{e}");
        let missing = dir.path().join("missing.toml");
        let e = load(argv(&[
            "warden",
            "serve",
            "--config",
            missing.to_str().unwrap(),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn other_commands_are_unaffected() {
        let loaded = load(argv(&["warden", "openapi"])).unwrap();
        assert!(matches!(loaded.cli.command, Command::Openapi));
    }
}
