//! The local image store: root filesystems imported under `name:tag`, on one host.
//!
//! Layout: `<store>/<escaped name>/<tag>/rootfs/` (the files) and `…/image.json` (the
//! reference, size and the image config's entrypoint, command, environment and working
//! directory). An import writes to a temporary directory and renames it into place, so a
//! reader never sees half an image. Nothing is ever downloaded: `PullImage` only looks here.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference is not `name[:tag]` or `name@digest`.
    #[error("invalid image reference {0:?}")]
    BadReference(String),
    /// No image under that reference.
    #[error("image {0:?} not found in the local image store")]
    NotFound(String),
    /// The source to import is neither a directory nor a tar archive.
    #[error("cannot import {path}: {reason}")]
    BadSource {
        /// The source.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    /// Repository name (`busybox`, `registry.example.com/team/app`).
    pub name: String,
    /// Tag or digest (`latest` when none is given).
    pub tag: String,
}

impl ImageRef {
    /// Parses `name`, `name:tag` or `name@sha256:…` (a `:` before the last `/` is a registry
    /// port, not a tag).
    pub fn parse(reference: &str) -> Result<ImageRef, ImageError> {
        let bad = || ImageError::BadReference(reference.to_string());
        let (name, tag) = if let Some((n, d)) = reference.split_once('@') {
            (n, d.to_string())
        } else {
            let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
            match reference[slash..].rfind(':') {
                Some(i) => (
                    &reference[..slash + i],
                    reference[slash + i + 1..].to_string(),
                ),
                None => (reference, "latest".to_string()),
            }
        };
        let name_ok = !name.is_empty()
            && name.len() <= 255
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c))
            && !name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..");
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
            && tag != "."
            && tag != "..";
        if name_ok && tag_ok {
            Ok(ImageRef {
                name: name.to_string(),
                tag,
            })
        } else {
            Err(bad())
        }
    }

    /// The directory name of the repository: `/` and `:` escaped so it is one component.
    pub fn escaped_name(&self) -> String {
        self.name
            .replace('%', "%25")
            .replace('/', "%2F")
            .replace(':', "%3A")
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tag.contains(':') {
            write!(f, "{}@{}", self.name, self.tag)
        } else {
            write!(f, "{}:{}", self.name, self.tag)
        }
    }
}

/// What the store keeps about an image beside its files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    /// The reference it was imported as.
    pub reference: String,
    /// Bytes of regular files in the rootfs.
    pub size: u64,
    /// `ENTRYPOINT`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `CMD`.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `ENV`, as `KEY=value`.
    #[serde(default)]
    pub env: Vec<String>,
    /// `WORKDIR`.
    #[serde(default)]
    pub working_dir: String,
}

/// An image in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Its reference.
    pub reference: ImageRef,
    /// Its root filesystem (read-only by convention: containers get an overlay or a copy).
    pub rootfs: PathBuf,
    /// Its config.
    pub config: ImageConfig,
}

/// The store.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// A store in `root` (created on first import).
    pub fn new(root: impl Into<PathBuf>) -> ImageStore {
        ImageStore { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, r: &ImageRef) -> PathBuf {
        self.root.join(r.escaped_name()).join(&r.tag)
    }

    /// Looks an image up.
    pub fn get(&self, reference: &str) -> Result<Image, ImageError> {
        let r = ImageRef::parse(reference)?;
        let dir = self.dir(&r);
        let meta = dir.join("image.json");
        let text = fs::read_to_string(&meta).map_err(|_| ImageError::NotFound(r.to_string()))?;
        let config: ImageConfig = serde_json::from_str(&text).map_err(|e| ImageError::Io {
            path: meta.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        Ok(Image {
            reference: r,
            rootfs: dir.join("rootfs"),
            config,
        })
    }

    /// Every image, sorted by reference.
    pub fn list(&self) -> Vec<Image> {
        let mut out = Vec::new();
        let Ok(names) = fs::read_dir(&self.root) else {
            return out;
        };
        for name in names.filter_map(Result::ok) {
            let Ok(tags) = fs::read_dir(name.path()) else {
                continue;
            };
            for tag in tags.filter_map(Result::ok) {
                let meta = tag.path().join("image.json");
                let Ok(text) = fs::read_to_string(&meta) else {
                    continue;
                };
                let Ok(config) = serde_json::from_str::<ImageConfig>(&text) else {
                    continue;
                };
                if let Ok(image) = self.get(&config.reference) {
                    out.push(image);
                }
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        out
    }

    /// Removes an image.
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let r = ImageRef::parse(reference)?;
        let dir = self.dir(&r);
        if !dir.exists() {
            return Err(ImageError::NotFound(r.to_string()));
        }
        fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        let _ = fs::remove_dir(dir.parent().unwrap_or(&dir));
        Ok(())
    }

    /// Imports a root filesystem directory, or a tar archive of one (plain or compressed; it
    /// is unpacked with the host's `tar`), under `reference`, replacing any image there.
    pub fn import(
        &self,
        source: &Path,
        reference: &str,
        config: ImageConfig,
    ) -> Result<Image, ImageError> {
        let r = ImageRef::parse(reference)?;
        let meta = fs::metadata(source).map_err(io_err(source))?;
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let tmp = self
            .root
            .join(format!(".import-{}-{}", std::process::id(), unique()));
        let rootfs = tmp.join("rootfs");
        fs::create_dir_all(&rootfs).map_err(io_err(&rootfs))?;
        let result = (|| {
            if meta.is_dir() {
                copy_tree(source, &rootfs)?;
            } else if meta.is_file() {
                let status = Command::new("tar")
                    .arg("-xpf")
                    .arg(source)
                    .arg("-C")
                    .arg(&rootfs)
                    .arg("--numeric-owner")
                    .status()
                    .map_err(io_err(Path::new("tar")))?;
                if !status.success() {
                    return Err(ImageError::BadSource {
                        path: source.to_path_buf(),
                        reason: format!("tar exited with {status}"),
                    });
                }
            } else {
                return Err(ImageError::BadSource {
                    path: source.to_path_buf(),
                    reason: "neither a directory nor a file".into(),
                });
            }
            let size = tree_size(&rootfs);
            let config = ImageConfig {
                reference: r.to_string(),
                size,
                ..config
            };
            let json = serde_json::to_string_pretty(&config).expect("image config serializes");
            let meta = tmp.join("image.json");
            fs::write(&meta, json).map_err(io_err(&meta))?;
            let dir = self.dir(&r);
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            }
            let parent = dir.parent().unwrap_or(&self.root);
            fs::create_dir_all(parent).map_err(io_err(parent))?;
            fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
            self.get(&r.to_string())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Copies a directory tree: regular files, directories and symbolic links, with their modes
/// and (as root) owners; sockets, fifos and device nodes are skipped (containers get a fresh
/// `/dev`).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    for entry in fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(io_err(&from))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&to).map_err(io_err(&to))?;
            copy_tree(&from, &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(io_err(&to))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&from).map_err(io_err(&from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io_err(&to))?;
        } else if ft.is_file() {
            fs::copy(&from, &to).map_err(io_err(&to))?;
        } else {
            continue;
        }
        let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = |s: &str| ImageRef::parse(s).map(|r| (r.name, r.tag));
        assert_eq!(r("busybox").ok(), Some(("busybox".into(), "latest".into())));
        assert_eq!(
            r("busybox:1.36").ok(),
            Some(("busybox".into(), "1.36".into()))
        );
        assert_eq!(
            r("localhost:5000/team/app").ok(),
            Some(("localhost:5000/team/app".into(), "latest".into()))
        );
        assert_eq!(
            r("localhost:5000/app:v2").ok(),
            Some(("localhost:5000/app".into(), "v2".into()))
        );
        assert_eq!(
            r("app@sha256:abc").ok(),
            Some(("app".into(), "sha256:abc".into()))
        );
        for bad in ["", "UPPER", "a/../b", "a:", "../x", "a:.."] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
        let reg = ImageRef::parse("localhost:5000/app:v2").expect("valid");
        assert_eq!(reg.escaped_name(), "localhost%3A5000%2Fapp");
        assert_eq!(reg.to_string(), "localhost:5000/app:v2");
    }

    #[test]
    fn imports_a_directory_and_a_tarball_then_lists_and_removes() {
        let base = std::env::temp_dir().join(format!("flotilla-image-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let src = base.join("src");
        fs::create_dir_all(src.join("bin")).expect("dir");
        fs::write(src.join("bin/hello"), "hi\n").expect("file");
        std::os::unix::fs::symlink("hello", src.join("bin/link")).expect("symlink");
        let store = ImageStore::new(base.join("store"));
        let img = store
            .import(&src, "demo:1", ImageConfig::default())
            .expect("imported");
        assert_eq!(img.config.size, 3);
        assert_eq!(
            fs::read_link(img.rootfs.join("bin/link")).expect("link"),
            PathBuf::from("hello")
        );
        assert!(matches!(store.get("demo:2"), Err(ImageError::NotFound(_))));

        let tar = base.join("demo.tar");
        let ok = Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status();
        if ok.map(|s| s.success()).unwrap_or(false) {
            let img = store
                .import(&tar, "demo:tar", ImageConfig::default())
                .expect("imported tar");
            assert_eq!(
                fs::read_to_string(img.rootfs.join("bin/hello")).expect("file"),
                "hi\n"
            );
        }
        let listed: Vec<String> = store
            .list()
            .iter()
            .map(|i| i.reference.to_string())
            .collect();
        assert!(listed.contains(&"demo:1".to_string()));
        store.remove("demo:1").expect("removed");
        assert!(matches!(store.get("demo:1"), Err(ImageError::NotFound(_))));
        let _ = fs::remove_dir_all(&base);
    }
}
