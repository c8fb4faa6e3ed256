//! Reading manifests from files, directories and standard input (the I/O half of
//! `kubectl apply -f`); parsing is [`flotilla_model::manifest`]'s job.

use std::io::Read;
use std::path::{Path, PathBuf};

use flotilla_model::manifest::{self, ManifestError, Manifests};

/// A path that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path given on the command line does not exist.
    #[error("the path {0:?} does not exist")]
    NotFound(String),
    /// Reading a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A directory holds no manifest files.
    #[error("{0}: no manifest files (*.yaml, *.yml, *.json) found")]
    EmptyDirectory(String),
}

/// What [`load_paths`] read: the objects and warnings, and every error.
///
/// Documents are independent: an error in one is reported with the other objects kept, so that a
/// caller can show every problem at once (as [`manifest::check_str`] does for one text); a caller
/// that writes anything must check that `errors` is empty first (nothing is half-applied).
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every object that decoded, valid or not, and the warnings, in file order.
    pub manifests: Manifests,
    /// Errors: documents that do not decode and objects the API server would reject, in file
    /// order and, within a file, in the order of their position.
    pub errors: Vec<ManifestError>,
    /// The files read, in order.
    pub files: Vec<String>,
}

/// Reads and checks manifests from `paths`: files, directories (their `*.yaml`, `*.yml` and
/// `*.json` files in name order; subdirectories too with `recursive`), or `-` for standard input.
///
/// Fails only when a path cannot be read; what is wrong inside the manifests is in
/// [`Loaded::errors`].
pub fn load_paths(paths: &[PathBuf], recursive: bool) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Io {
                    path: "-".into(),
                    source,
                })?;
            add_text(&mut loaded, "-", &text);
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoadError::NotFound(path.display().to_string())
            } else {
                io_err(path, source)
            }
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, recursive, &mut files)?;
            if files.is_empty() {
                return Err(LoadError::EmptyDirectory(path.display().to_string()));
            }
            for file in files {
                add_file(&mut loaded, &file)?;
            }
        } else {
            add_file(&mut loaded, path)?;
        }
    }
    Ok(loaded)
}

/// Reads the texts of manifest files without parsing them, as [`load_paths`] finds them:
/// `(file name, text)` pairs, for a client that sends them to a server which parses them.
pub fn read_texts(paths: &[PathBuf], recursive: bool) -> Result<Vec<(String, String)>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Io {
                    path: "-".into(),
                    source,
                })?;
            out.push(("-".to_string(), text));
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoadError::NotFound(path.display().to_string())
            } else {
                io_err(path, source)
            }
        })?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, recursive, &mut files)?;
            if files.is_empty() {
                return Err(LoadError::EmptyDirectory(path.display().to_string()));
            }
            files
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| io_err(&file, source))?;
            out.push((file.display().to_string(), text));
        }
    }
    Ok(out)
}

fn io_err(path: &Path, source: std::io::Error) -> LoadError {
    LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn collect_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| io_err(dir, source))?
        .map(|e| e.map(|e| e.path()).map_err(|source| io_err(dir, source)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                collect_dir(&entry, recursive, out)?;
            }
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(entry);
        }
    }
    Ok(())
}

fn add_file(loaded: &mut Loaded, path: &Path) -> Result<(), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| io_err(path, source))?;
    add_text(loaded, &path.display().to_string(), &text);
    Ok(())
}

fn add_text(loaded: &mut Loaded, name: &str, text: &str) {
    loaded.files.push(name.to_string());
    let checked = manifest::check_str(name, text);
    loaded.manifests.extend(checked.manifests);
    loaded.errors.extend(checked.errors);
}
