//! The local image store: root filesystems imported under `name:tag`, on one host.
//!
//! Layout: `<store>/<escaped name>/<tag>/rootfs/` (the files) and `…/image.json` (the
//! reference, size, image ID and the image config's entrypoint, command, environment, working
//! directory and user). An import writes to a temporary directory and renames it into place, so
//! a reader never sees half an image. Nothing is ever downloaded: `PullImage` only looks here.
//!
//! [`ImageStore::import`] recognises its source by its content:
//!
//! - an [OCI image layout] (a directory holding `oci-layout` and `index.json`, or a tar of one,
//!   plain, gzip or zstd): the index is followed to the manifest for this host's platform (through
//!   nested indexes; the `org.opencontainers.image.ref.name` annotation picks between several
//!   images), every blob is checked against its descriptor's sha256 digest and size before it is
//!   used, and the layers are applied in order with their whiteouts;
//! - a `docker save` archive (`manifest.json` and layer tars, as a directory or a tar), its
//!   layers checked against the config's `rootfs.diff_ids`;
//! - otherwise a plain root filesystem: a directory is copied, a tar (plain, gzip or zstd) is
//!   unpacked with the same rules as a layer (xz and bzip2 tars go to the host's `tar`).
//!
//! Layers are unpacked by this module, not by a host tool, so that no entry lands outside the
//! root filesystem: names are cleaned and a name that climbs above the root (`../x`) is refused;
//! symbolic links met in the parents of an entry are resolved inside the root filesystem (as
//! Docker's chrooted unpack does), never on the host; the last component is never followed.
//!
//! Kubernetes leaves images to the container runtime (the kubelet only calls CRI's
//! `ImageService`), so the rules here are the OCI image spec's (image-layout.md, image-index.md,
//! manifest.md, config.md, layer.md) as containerd and Docker apply them.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference is not `name[:tag]` or `name@digest`.
    #[error("invalid image reference {0:?}")]
    BadReference(String),
    /// No image under that reference.
    #[error("image {0:?} not found in the local image store")]
    NotFound(String),
    /// The source to import, or a file in it, is not what an image needs.
    #[error("cannot import {path}: {reason}")]
    BadSource {
        /// The source, or the file in it that is wrong.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A blob's content does not have the digest that names it.
    #[error("blob {blob}: digest mismatch: expected {expected}, found {actual}")]
    DigestMismatch {
        /// The blob's file.
        blob: PathBuf,
        /// The digest its descriptor (or the config's `diff_ids`) names.
        expected: String,
        /// The digest of what the file holds.
        actual: String,
    },
    /// An archive entry would be written outside the root filesystem.
    #[error("{archive}: entry {entry:?} escapes the root filesystem")]
    Escape {
        /// The archive (layer blob or tar file).
        archive: PathBuf,
        /// The entry's name as the archive spells it.
        entry: String,
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

fn bad(path: &Path, reason: impl Into<String>) -> ImageError {
    ImageError::BadSource {
        path: path.to_path_buf(),
        reason: reason.into(),
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
    /// The image ID: the digest of its config blob (`sha256:…`), as CRI's `Image.id`; empty for
    /// a plain root filesystem.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
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
    /// `USER`: `user`, `uid`, `user:group` or `uid:gid`, as the image config says it (resolved
    /// against the rootfs's `/etc/passwd` and `/etc/group` by whoever starts the container).
    #[serde(default)]
    pub user: String,
}

impl ImageConfig {
    /// This config with every field left empty here taken from `image` (an imported image's
    /// own config): what the caller of [`ImageStore::import`] gives wins.
    fn or(self, image: ImageConfig) -> ImageConfig {
        fn pick<T: Default + PartialEq>(mine: T, theirs: T) -> T {
            if mine == T::default() {
                theirs
            } else {
                mine
            }
        }
        ImageConfig {
            reference: pick(self.reference, image.reference),
            size: pick(self.size, image.size),
            id: pick(self.id, image.id),
            entrypoint: pick(self.entrypoint, image.entrypoint),
            cmd: pick(self.cmd, image.cmd),
            env: pick(self.env, image.env),
            working_dir: pick(self.working_dir, image.working_dir),
            user: pick(self.user, image.user),
        }
    }
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

    /// Imports `source` under `reference`, replacing any image there. The source is recognised
    /// by its content (see the module's docs): an OCI image layout or a `docker save` archive,
    /// each as a directory or a tar (plain, gzip or zstd), or else a root filesystem directory or
    /// tar. For an OCI layout or docker archive, the image's own config (entrypoint, command,
    /// environment, working directory, user) fills whatever `config` leaves empty.
    pub fn import(
        &self,
        source: &Path,
        reference: &str,
        config: ImageConfig,
    ) -> Result<Image, ImageError> {
        self.import_for(source, reference, config, &Platform::host())
    }

    /// [`ImageStore::import`] choosing the manifest of `platform` from a multi-platform index.
    fn import_for(
        &self,
        source: &Path,
        reference: &str,
        config: ImageConfig,
        platform: &Platform,
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
            // A tar is first unpacked as if it were a root filesystem; if what comes out is a
            // layout or a docker archive, it is moved aside and imported from there.
            let staged = if meta.is_dir() {
                source.to_path_buf()
            } else if meta.is_file() {
                unpack_rootfs_archive(source, &rootfs)?;
                rootfs.clone()
            } else {
                return Err(bad(source, "neither a directory nor a file"));
            };
            let kind = detect(&staged);
            let image_config = match kind {
                SourceKind::Rootfs => {
                    if meta.is_dir() {
                        copy_tree(source, &rootfs)?;
                    }
                    ImageConfig::default()
                }
                SourceKind::OciLayout | SourceKind::DockerArchive => {
                    let layout = if meta.is_dir() {
                        staged
                    } else {
                        let layout = tmp.join("layout");
                        fs::rename(&rootfs, &layout).map_err(io_err(&layout))?;
                        fs::create_dir(&rootfs).map_err(io_err(&rootfs))?;
                        layout
                    };
                    let image = if kind == SourceKind::OciLayout {
                        import_oci(&layout, &r, platform, &rootfs)?
                    } else {
                        import_docker_archive(&layout, &r, &rootfs)?
                    };
                    if !meta.is_dir() {
                        fs::remove_dir_all(&layout).map_err(io_err(&layout))?;
                    }
                    image
                }
            };
            let size = tree_size(&rootfs);
            let config = ImageConfig {
                reference: r.to_string(),
                size,
                ..config.or(image_config)
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

// ---------------------------------------------------------------------------------------------
// Recognising the source.

/// What an import source (a directory, or a tar once unpacked) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceKind {
    /// A root filesystem.
    Rootfs,
    /// An OCI image layout: `oci-layout` with `imageLayoutVersion`, and `index.json`.
    OciLayout,
    /// A `docker save` archive: `manifest.json`, a list of configs and layer tars.
    DockerArchive,
}

/// The largest JSON document (index, manifest, config) read into memory.
const MAX_JSON: u64 = 16 << 20;

fn detect(dir: &Path) -> SourceKind {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct OciLayoutFile {
        image_layout_version: String,
    }
    // image-spec image-layout.md: `oci-layout` and `index.json` MUST exist. A newer `docker
    // save` writes both formats at once; the OCI one is preferred.
    if dir.join("index.json").is_file() {
        if let Ok(layout) = read_json::<OciLayoutFile>(&dir.join("oci-layout")) {
            if !layout.image_layout_version.is_empty() {
                return SourceKind::OciLayout;
            }
        }
    }
    if let Ok(entries) = read_json::<Vec<DockerManifestEntry>>(&dir.join("manifest.json")) {
        if !entries.is_empty() {
            return SourceKind::DockerArchive;
        }
    }
    SourceKind::Rootfs
}

/// Opens a file without following a symbolic link in its last component.
fn open_nofollow(path: &Path) -> Result<File, ImageError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_err(path))
}

/// Reads a small file (a regular file, not a symbolic link).
fn read_small(path: &Path) -> Result<Vec<u8>, ImageError> {
    let file = open_nofollow(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > MAX_JSON {
        return Err(bad(path, format!("larger than {MAX_JSON} bytes")));
    }
    Ok(bytes)
}

fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| bad(path, format!("invalid JSON: {e}")))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ImageError> {
    parse_json(path, &read_small(path)?)
}

// ---------------------------------------------------------------------------------------------
// Compression.

/// How a tar stream is compressed, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
    /// Recognised but not decoded here.
    Other(&'static str),
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        Compression::Other("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Other("xz")
    } else {
        Compression::None
    }
}

/// The decompressed content of a file (gzip and zstd are recognised by their magic numbers,
/// whatever a media type claims), or the compression it uses that cannot be decoded here.
fn open_decompressed(path: &Path) -> Result<Result<Box<dyn Read>, &'static str>, ImageError> {
    let mut reader = BufReader::new(open_nofollow(path)?);
    let head = reader.fill_buf().map_err(io_err(path))?.to_vec();
    Ok(match sniff(&head) {
        Compression::None => Ok(Box::new(reader)),
        Compression::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(reader))),
        Compression::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(reader)
                .map_err(|e| bad(path, format!("invalid zstd stream: {e}")))?;
            Ok(Box::new(decoder))
        }
        Compression::Other(name) => Err(name),
    })
}

/// The sha256 digest (`sha256:<hex>`) and length of a stream.
fn sha256_of(mut reader: impl Read, path: &Path) -> Result<(String, u64), ImageError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| bad(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((format!("sha256:{:x}", hasher.finalize()), total))
}

/// Unpacks a root filesystem tar (not a layer: `.wh.` names are kept as they are) into `rootfs`.
fn unpack_rootfs_archive(source: &Path, rootfs: &Path) -> Result<(), ImageError> {
    match open_decompressed(source)? {
        Ok(reader) => {
            let mut dirs = DirModes::default();
            unpack_layer(reader, source, rootfs, false, &mut dirs)?;
            dirs.apply()
        }
        Err(compression) => {
            // Compressions not decoded here go to the host's tar, as before this module
            // unpacked archives itself.
            let status = Command::new("tar")
                .arg("-xpf")
                .arg(source)
                .arg("-C")
                .arg(rootfs)
                .arg("--numeric-owner")
                .status()
                .map_err(io_err(Path::new("tar")))?;
            if status.success() {
                Ok(())
            } else {
                Err(bad(
                    source,
                    format!("tar exited with {status} unpacking a {compression} archive"),
                ))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Applying a layer.

/// Directory modes, applied once every layer is in place: a directory that a layer makes
/// read-only must still take the files of the layers above it.
#[derive(Default)]
struct DirModes(BTreeMap<PathBuf, u32>);

impl DirModes {
    fn forget(&mut self, removed: &Path) {
        self.0.retain(|p, _| !p.starts_with(removed));
    }

    /// Sets the modes, deepest first.
    fn apply(self) -> Result<(), ImageError> {
        for (path, mode) in self.0.into_iter().rev() {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                        .map_err(io_err(&path))?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Cleans an archive entry's name into a path relative to the root: a leading `/` and `.`
/// components are dropped, `..` removes the previous component, and a name that climbs above
/// the root is `None` (Docker's `pkg/archive` refuses these as a "breakout").
fn clean_entry_name(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

/// The most symbolic links followed while resolving one entry's parent (Linux's MAXSYMLINKS).
const MAX_SYMLINKS: u32 = 40;

/// Unpacks one layer (or a plain root filesystem tar, `whiteouts` false) on top of `root`.
///
/// The rules are those of the OCI image spec, layer.md ("Applying Changesets", "Whiteouts"):
/// an entry replaces what lower layers had at its path, except that a directory over a
/// directory keeps the lower directory's content; `.wh.<name>` removes `<name>` of lower
/// layers; `.wh..wh..opq` removes every lower-layer child of its directory; whiteouts never
/// hide what the same layer adds, wherever they sit in the tar.
fn unpack_layer(
    reader: impl Read,
    archive: &Path,
    root: &Path,
    whiteouts: bool,
    dirs: &mut DirModes,
) -> Result<(), ImageError> {
    let mut unpacker = Unpacker {
        root,
        archive,
        whiteouts,
        chown: nix::unistd::geteuid().is_root(),
        dirs,
        this_layer: HashSet::new(),
    };
    let corrupt = |e: io::Error| bad(archive, format!("not a valid tar archive: {e}"));
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        unpacker.entry(&mut entry)?;
    }
    Ok(())
}

struct Unpacker<'a> {
    root: &'a Path,
    archive: &'a Path,
    whiteouts: bool,
    /// Whether to give files their owners (only root can).
    chown: bool,
    dirs: &'a mut DirModes,
    /// Every path this layer wrote, and their parents: what its whiteouts must spare.
    this_layer: HashSet<PathBuf>,
}

impl Unpacker<'_> {
    fn escape(&self, entry: &str) -> ImageError {
        ImageError::Escape {
            archive: self.archive.to_path_buf(),
            entry: entry.to_string(),
        }
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_entry_name(Path::new(OsStr::from_bytes(&raw)))
            .ok_or_else(|| self.escape(&name))?;
        let Some(file_name) = rel.file_name().map(OsStr::to_os_string) else {
            // The root itself (`./`): the image store's rootfs directory stays as it is.
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let kind = entry.header().entry_type();
        // image-spec layer.md "Whiteouts"; only regular files are markers (as umoci and
        // containerd read it).
        if self.whiteouts && kind.is_file() {
            if let Some(victim) = file_name.as_bytes().strip_prefix(b".wh.") {
                return self.whiteout(parent_rel, victim, &name);
            }
        }
        let parent = self
            .resolve(parent_rel, true, &name)?
            .ok_or_else(|| self.escape(&name))?;
        let dest = parent.join(&file_name);
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
        let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
        let mtime = header.mtime().unwrap_or(0);
        if kind.is_dir() {
            match fs::symlink_metadata(&dest) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    self.clear(&dest)?;
                    self.mkdir(&dest)?;
                }
                Err(_) => self.mkdir(&dest)?,
            }
            self.owner(&dest, uid, gid)?;
            self.dirs.0.insert(dest.clone(), mode);
        } else if kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse() {
            self.clear(&dest)?;
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&dest)
                .map_err(io_err(&dest))?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = entry
                    .read(&mut buf)
                    .map_err(|e| bad(self.archive, format!("entry {name:?}: {e}")))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).map_err(io_err(&dest))?;
            }
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
            file.set_modified(when).map_err(io_err(&dest))?;
            if self.chown {
                std::os::unix::fs::fchown(&file, uid, gid).map_err(io_err(&dest))?;
            }
            // After the owner: chown clears set-user-ID and set-group-ID bits.
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_err(&dest))?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| {
                    bad(
                        self.archive,
                        format!("symbolic link {name:?} has no target"),
                    )
                })?
                .into_owned();
            self.clear(&dest)?;
            // The target is stored as it is, absolute or not: it is only ever resolved inside
            // the container's root (or inside the rootfs by `resolve`).
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest).map_err(io_err(&dest))?;
            self.owner(&dest, uid, gid)?;
        } else if kind.is_hard_link() {
            let raw_target = entry
                .link_name_bytes()
                .ok_or_else(|| bad(self.archive, format!("hard link {name:?} has no target")))?
                .into_owned();
            let target_rel = clean_entry_name(Path::new(OsStr::from_bytes(&raw_target)))
                .filter(|t| t.file_name().is_some())
                .ok_or_else(|| self.escape(&String::from_utf8_lossy(&raw_target)))?;
            let target = self
                .resolve(target_rel.parent().unwrap_or(Path::new("")), false, &name)?
                .map(|p| p.join(target_rel.file_name().unwrap_or_default()));
            let target = match target {
                Some(t) if fs::symlink_metadata(&t).is_ok_and(|m| !m.is_dir()) => t,
                _ => {
                    return Err(bad(
                        self.archive,
                        format!(
                            "hard link {name:?} points to {:?}, which is not a file of the image",
                            String::from_utf8_lossy(&raw_target)
                        ),
                    ))
                }
            };
            if target != dest {
                self.clear(&dest)?;
                // link(2) does not follow a symbolic link at the target.
                fs::hard_link(&target, &dest).map_err(io_err(&dest))?;
            }
        } else if kind.is_fifo() {
            self.clear(&dest)?;
            nix::unistd::mkfifo(&dest, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| io_err(&dest)(io::Error::from(e)))?;
            self.owner(&dest, uid, gid)?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(io_err(&dest))?;
        } else {
            // Device nodes (containers get a fresh `/dev`), pax global headers and unknown
            // types are skipped.
            return Ok(());
        }
        self.mark(dest);
        Ok(())
    }

    fn mkdir(&mut self, path: &Path) -> Result<(), ImageError> {
        fs::DirBuilder::new()
            .mode(0o755)
            .create(path)
            .map_err(io_err(path))
    }

    fn owner(&self, path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<(), ImageError> {
        if self.chown {
            std::os::unix::fs::lchown(path, uid, gid).map_err(io_err(path))?;
        }
        Ok(())
    }

    /// Records that this layer wrote `path` (and so its parents).
    fn mark(&mut self, path: PathBuf) {
        let mut p = path.as_path();
        while p != self.root && self.this_layer.insert(p.to_path_buf()) {
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
    }

    /// Removes whatever is at `path` (never following a symbolic link there).
    fn clear(&mut self, path: &Path) -> Result<(), ImageError> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(path).map_err(io_err(path))?;
                self.dirs.forget(path);
            }
            Ok(_) => fs::remove_file(path).map_err(io_err(path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        Ok(())
    }

    /// Removes what lower layers put under the directory `dir`, keeping what this layer wrote.
    fn prune_lower(&mut self, dir: &Path) -> Result<(), ImageError> {
        let mut children: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir))?;
        children.sort();
        for child in children {
            if self.this_layer.contains(&child) {
                if fs::symlink_metadata(&child).is_ok_and(|m| m.is_dir()) {
                    self.prune_lower(&child)?;
                }
            } else {
                self.clear(&child)?;
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent_rel: &Path, victim: &[u8], name: &str) -> Result<(), ImageError> {
        let opaque = victim == b".wh..opq";
        if !opaque && victim.starts_with(b".wh.") {
            // Other `.wh..wh.` names are AUFS metadata (`.wh..wh.plnk`), not whiteouts.
            return Ok(());
        }
        if !opaque && matches!(victim, b"" | b"." | b"..") {
            return Err(bad(self.archive, format!("invalid whiteout {name:?}")));
        }
        let Some(parent) = self.resolve(parent_rel, false, name)? else {
            return Ok(()); // Nothing below to hide.
        };
        if opaque {
            if fs::symlink_metadata(&parent).is_ok_and(|m| m.is_dir()) {
                self.prune_lower(&parent)?;
            }
            self.mark(parent);
            return Ok(());
        }
        let path = parent.join(OsStr::from_bytes(victim));
        if self.this_layer.contains(&path) {
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                self.prune_lower(&path)?;
            }
        } else {
            self.clear(&path)?;
        }
        Ok(())
    }

    /// The real path of the directory `rel` inside the root: symbolic links met on the way are
    /// followed inside the root (an absolute target starts again at the root, `..` stops at
    /// it), so nothing resolves to a place outside. Missing directories are created when
    /// `create`, else the answer is `None`.
    fn resolve(
        &mut self,
        rel: &Path,
        create: bool,
        entry: &str,
    ) -> Result<Option<PathBuf>, ImageError> {
        let mut pending: Vec<OsString> = rel
            .components()
            .rev()
            .map(|c| c.as_os_str().to_os_string())
            .collect();
        let mut stack: Vec<OsString> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                stack.pop();
                continue;
            }
            if part == "." || part == "/" || part.is_empty() {
                continue;
            }
            let mut candidate = self.root.to_path_buf();
            candidate.extend(&stack);
            candidate.push(&part);
            match fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(bad(
                            self.archive,
                            format!("entry {entry:?}: too many levels of symbolic links"),
                        ));
                    }
                    let target = fs::read_link(&candidate).map_err(io_err(&candidate))?;
                    if target.is_absolute() {
                        stack.clear();
                    }
                    pending.extend(
                        target
                            .components()
                            .rev()
                            .map(|c| c.as_os_str().to_os_string()),
                    );
                }
                Ok(m) if m.is_dir() => stack.push(part),
                Ok(_) => {
                    return Err(bad(
                        self.archive,
                        format!(
                            "entry {entry:?}: {} is not a directory",
                            candidate.display()
                        ),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    self.mkdir(&candidate)?;
                    stack.push(part);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(&candidate)(e)),
            }
        }
        let mut out = self.root.to_path_buf();
        out.extend(&stack);
        Ok(Some(out))
    }
}

// ---------------------------------------------------------------------------------------------
// OCI image layouts.

/// An OS and architecture, in the OCI image index's vocabulary (`linux`, `amd64`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct Platform {
    os: String,
    architecture: String,
}

impl Platform {
    /// This host's platform: Go's `GOARCH` names, as image indexes use them (image-spec
    /// image-index.md, `platform.architecture`).
    fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// An OCI content descriptor (image-spec descriptor.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The annotation that names an image in a layout (image-spec annotations.md).
const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Descriptor {
    fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

/// An image index or an image manifest: told apart by their fields, since `mediaType` is
/// optional in both (image-spec image-index.md, manifest.md).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciDocument {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// An image config (image-spec config.md; Docker's image JSON has the same fields).
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ContainerConfig>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    user: Option<String>,
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ConfigFile {
    fn image_config(self, id: String) -> ImageConfig {
        let c = self.config.unwrap_or_default();
        ImageConfig {
            id,
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            ..ImageConfig::default()
        }
    }
}

/// The hex part of a `sha256:<64 lowercase hex>` digest; other algorithms are not supported
/// (image-spec descriptor.md registers sha256 and sha512; sha256 is what tools write).
fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Where a blob lives in a layout (image-layout.md: `blobs/<alg>/<encoded>`).
fn blob_path(layout: &Path, desc: &Descriptor) -> Result<PathBuf, ImageError> {
    let hex = sha256_hex(&desc.digest).ok_or_else(|| {
        bad(
            &layout.join("index.json"),
            format!(
                "unsupported or malformed digest {:?} (only sha256 is supported)",
                desc.digest
            ),
        )
    })?;
    Ok(layout.join("blobs").join("sha256").join(hex))
}

fn check_blob(path: &Path, desc: &Descriptor, digest: String, size: u64) -> Result<(), ImageError> {
    if digest != desc.digest {
        return Err(ImageError::DigestMismatch {
            blob: path.to_path_buf(),
            expected: desc.digest.clone(),
            actual: digest,
        });
    }
    if size != desc.size {
        return Err(bad(
            path,
            format!("blob is {size} bytes, its descriptor says {}", desc.size),
        ));
    }
    Ok(())
}

/// Reads a JSON blob, checked against its descriptor.
fn read_json_blob<T: DeserializeOwned>(layout: &Path, desc: &Descriptor) -> Result<T, ImageError> {
    let path = blob_path(layout, desc)?;
    let bytes = read_small(&path)?;
    let (digest, size) = sha256_of(bytes.as_slice(), &path)?;
    check_blob(&path, desc, digest, size)?;
    parse_json(&path, &bytes)
}

/// Whether a name (a `ref.name` annotation or a `RepoTags` entry: a full reference or only a
/// tag) names `r`: `Some(true)` for the same reference, `Some(false)` for the same tag only.
fn names(name: &str, r: &ImageRef) -> Option<bool> {
    match ImageRef::parse(name) {
        Ok(n) if n == *r => Some(true),
        _ if name == r.tag => Some(false),
        Ok(n) if n.tag == r.tag && name.contains(':') => Some(false),
        _ => None,
    }
}

/// Of several named things, those that `r` names: the exact matches if any, else the matches by
/// tag, else all of them when there is one item or they bear at most one distinct name (the
/// source holds one image, imported under a name of the caller's choosing). `None` when several
/// differently named items are there and none fits.
fn by_name<'a, T>(
    items: &'a [T],
    name_of: impl Fn(&T) -> Vec<&str>,
    r: &ImageRef,
) -> Option<Vec<&'a T>> {
    for exact in [true, false] {
        let hits: Vec<&T> = items
            .iter()
            .filter(|i| name_of(i).iter().any(|n| names(n, r) == Some(exact)))
            .collect();
        if !hits.is_empty() {
            return Some(hits);
        }
    }
    let distinct: BTreeSet<&str> = items.iter().flat_map(&name_of).collect();
    (items.len() <= 1 || distinct.len() <= 1).then(|| items.iter().collect())
}

/// Follows an index down to the manifest for `platform`.
fn find_manifest(
    layout: &Path,
    descriptors: &[Descriptor],
    r: &ImageRef,
    platform: &Platform,
    depth: u32,
) -> Result<(Descriptor, OciDocument), ImageError> {
    let index_json = layout.join("index.json");
    if depth > 4 {
        return Err(bad(&index_json, "image indexes nested more than 4 deep"));
    }
    let mut candidates: Vec<&Descriptor> = descriptors.iter().collect();
    if depth == 0 {
        // image-layout.md: `ref.name` on the descriptors of index.json names the images of the
        // layout; several images with none named like the reference are ambiguous.
        candidates =
            by_name(descriptors, |d| d.ref_name().into_iter().collect(), r).ok_or_else(|| {
                let all: BTreeSet<&str> = descriptors
                    .iter()
                    .filter_map(Descriptor::ref_name)
                    .collect();
                bad(
                    &index_json,
                    format!(
                        "the layout holds several images ({}) and none is named {:?}",
                        all.into_iter().collect::<Vec<_>>().join(", "),
                        r.tag
                    ),
                )
            })?;
    }
    // image-index.md: a runtime picks the manifest whose `platform` matches it; a descriptor
    // without one fits any (a single-platform image, or a nested index).
    let chosen = candidates
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os == platform.os && p.architecture == platform.architecture)
        })
        .ok_or_else(|| {
            let have: Vec<String> = candidates
                .iter()
                .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                .collect();
            bad(
                &index_json,
                format!(
                    "no image for {platform} (the layout has {})",
                    have.join(", ")
                ),
            )
        })?;
    let doc: OciDocument = read_json_blob(layout, chosen)?;
    if let Some(children) = &doc.manifests {
        return find_manifest(layout, children, r, platform, depth + 1);
    }
    if doc.config.is_none() || doc.layers.is_none() {
        return Err(bad(
            &blob_path(layout, chosen)?,
            format!(
                "neither an image index nor an image manifest (media type {:?})",
                doc.media_type
            ),
        ));
    }
    Ok(((*chosen).clone(), doc))
}

/// Imports the image of an OCI layout that `r` and `platform` select into `rootfs`; returns its
/// config.
fn import_oci(
    layout: &Path,
    r: &ImageRef,
    platform: &Platform,
    rootfs: &Path,
) -> Result<ImageConfig, ImageError> {
    let index_json = layout.join("index.json");
    let index: OciDocument = read_json(&index_json)?;
    let top = index
        .manifests
        .ok_or_else(|| bad(&index_json, "not an image index (no manifests)"))?;
    let (_, manifest) = find_manifest(layout, &top, r, platform, 0)?;
    let (Some(config), Some(layers)) = (manifest.config, manifest.layers) else {
        return Err(bad(&index_json, "the manifest has no config or no layers"));
    };
    // manifest.md: the config of a container image is an image config; artifacts (Helm
    // charts, signatures) use other media types and cannot be run.
    const CONFIG_TYPES: [&str; 3] = [
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
        "",
    ];
    if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
        return Err(bad(
            &blob_path(layout, &config)?,
            format!(
                "not a container image: config media type {:?}",
                config.media_type
            ),
        ));
    }
    let config_file: ConfigFile = read_json_blob(layout, &config)?;
    let mut dirs = DirModes::default();
    for layer in &layers {
        let path = blob_path(layout, layer)?;
        // layer.md media types (`…image.layer.v1.tar[+gzip|+zstd]`, and the nondistributable
        // ones) and Docker's `…image.rootfs.diff.tar.gzip`.
        let mt = layer.media_type.as_str();
        if !(mt.contains(".image.layer.") || mt.contains(".image.rootfs.") || mt.is_empty()) {
            return Err(bad(
                &path,
                format!("not a filesystem layer: media type {mt:?}"),
            ));
        }
        // The whole blob is checked before any of it is unpacked.
        let (digest, size) = sha256_of(open_nofollow(&path)?, &path)?;
        check_blob(&path, layer, digest, size)?;
        match open_decompressed(&path)? {
            Ok(reader) => unpack_layer(reader, &path, rootfs, true, &mut dirs)?,
            Err(compression) => {
                return Err(bad(
                    &path,
                    format!("{compression}-compressed layers are not supported"),
                ))
            }
        }
    }
    dirs.apply()?;
    Ok(config_file.image_config(config.digest))
}

// ---------------------------------------------------------------------------------------------
// `docker save` archives.

/// One image of a `docker save` archive's `manifest.json` (moby's `image/tarexport`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A path named inside an archive, which must stay inside it.
fn inside(dir: &Path, name: &str) -> Result<PathBuf, ImageError> {
    clean_entry_name(Path::new(name))
        .filter(|p| p.file_name().is_some())
        .map(|p| dir.join(p))
        .ok_or_else(|| ImageError::Escape {
            archive: dir.join("manifest.json"),
            entry: name.to_string(),
        })
}

/// Imports the image of a `docker save` archive (unpacked in `dir`) that `r` names into
/// `rootfs`; returns its config.
fn import_docker_archive(
    dir: &Path,
    r: &ImageRef,
    rootfs: &Path,
) -> Result<ImageConfig, ImageError> {
    let manifest_json = dir.join("manifest.json");
    let entries: Vec<DockerManifestEntry> = read_json(&manifest_json)?;
    fn tags(e: &DockerManifestEntry) -> Vec<&str> {
        e.repo_tags.iter().flatten().map(String::as_str).collect()
    }
    let chosen = by_name(&entries, tags, r)
        .filter(|hits| hits.len() == 1)
        .and_then(|hits| hits.first().copied())
        .ok_or_else(|| {
            let all: Vec<&str> = entries.iter().flat_map(tags).collect();
            bad(
                &manifest_json,
                format!(
                    "the archive holds several images ({}) and none is named {r}",
                    all.join(", ")
                ),
            )
        })?;
    let config_path = inside(dir, &chosen.config)?;
    let bytes = read_small(&config_path)?;
    let (id, _) = sha256_of(bytes.as_slice(), &config_path)?;
    // The config's file is named by its digest (`<hex>.json`, or `blobs/sha256/<hex>` since
    // Docker 25): check it when it is.
    let stem = config_path
        .file_name()
        .and_then(OsStr::to_str)
        .map(|n| n.trim_end_matches(".json").to_string())
        .unwrap_or_default();
    if sha256_hex(&format!("sha256:{stem}")).is_some() && id != format!("sha256:{stem}") {
        return Err(ImageError::DigestMismatch {
            blob: config_path,
            expected: format!("sha256:{stem}"),
            actual: id,
        });
    }
    let config_file: ConfigFile = parse_json(&config_path, &bytes)?;
    let diff_ids = config_file
        .rootfs
        .as_ref()
        .map(|r| r.diff_ids.clone())
        .unwrap_or_default();
    if diff_ids.len() != chosen.layers.len() {
        return Err(bad(
            &config_path,
            format!(
                "{} layers in manifest.json but {} diff_ids in the config",
                chosen.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut dirs = DirModes::default();
    for (layer, diff_id) in chosen.layers.iter().zip(&diff_ids) {
        let path = inside(dir, layer)?;
        // config.md: a diff_id is the digest of the uncompressed layer tar.
        let open = |path: &Path| {
            open_decompressed(path)?
                .map_err(|c| bad(path, format!("{c}-compressed layers are not supported")))
        };
        let (digest, _) = sha256_of(open(&path)?, &path)?;
        if &digest != diff_id {
            return Err(ImageError::DigestMismatch {
                blob: path,
                expected: diff_id.clone(),
                actual: digest,
            });
        }
        unpack_layer(open(&path)?, &path, rootfs, true, &mut dirs)?;
    }
    dirs.apply()?;
    Ok(config_file.image_config(id))
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

    // ---- OCI layouts and docker archives, built here (nothing is downloaded) ----

    use serde_json::{json, Value};

    /// A scratch directory removed on drop (also when a test fails).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "flotilla-oci-test-{name}-{}-{}",
                std::process::id(),
                unique()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            // Make read-only directories writable again so that a non-root run can clean up.
            fn open_up(dir: &Path) {
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
                if let Ok(entries) = fs::read_dir(dir) {
                    for e in entries.filter_map(Result::ok) {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            open_up(&e.path());
                        }
                    }
                }
            }
            open_up(&self.0);
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// One tar entry.
    enum E<'a> {
        Dir(&'a str, u32),
        File(&'a str, &'a str, u32),
        Symlink(&'a str, &'a str),
        Hardlink(&'a str, &'a str),
    }

    /// A tar with exactly these names (written raw, so `../` can be tested).
    fn tar_of(entries: &[E<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, data, kind, mode, link): (&str, &[u8], tar::EntryType, u32, &str) = match e {
                E::Dir(n, m) => (n, b"", tar::EntryType::Directory, *m, ""),
                E::File(n, d, m) => (n, d.as_bytes(), tar::EntryType::Regular, *m, ""),
                E::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, 0o777, t),
                E::Hardlink(n, t) => (n, b"", tar::EntryType::Link, 0o644, t),
            };
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(bytes))
    }

    /// Writes a blob into a layout and returns its descriptor.
    fn blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
        let digest = digest_of(bytes);
        let dir = layout.join("blobs/sha256");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(&digest[7..]), bytes).unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";

    /// Writes an image (config and layers) into a layout and returns its manifest descriptor.
    fn image(layout: &Path, config: Value, layers: &[(&str, Vec<u8>)]) -> Value {
        let config = blob(
            layout,
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let layers: Vec<Value> = layers.iter().map(|(mt, b)| blob(layout, mt, b)).collect();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers
        });
        blob(layout, MANIFEST, manifest.to_string().as_bytes())
    }

    fn write_index(layout: &Path, manifests: Vec<Value>) {
        fs::write(
            layout.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
        fs::write(layout.join("index.json"), index.to_string()).unwrap();
    }

    fn with(mut desc: Value, key: &str, value: Value) -> Value {
        desc[key] = value;
        desc
    }

    /// The two-layer image of the whiteout test: layer one plain, layer two gzip.
    fn two_layer_layout(layout: &Path) {
        let base = tar_of(&[
            E::Dir("etc/", 0o755),
            E::File("etc/keep", "kept\n", 0o644),
            E::File("etc/gone", "gone\n", 0o644),
            E::Dir("opt/", 0o755),
            E::File("opt/old", "old\n", 0o644),
            E::Dir("opt/sub/", 0o755),
            E::File("opt/sub/deep", "deep\n", 0o644),
            E::Dir("bin/", 0o755),
            E::File("bin/tool", "#!tool\n", 0o755),
            E::Symlink("bin/sh", "tool"),
            E::Symlink("bin/abs", "/etc/keep"),
            E::Dir("ro/", 0o555),
            E::File("ro/f", "ro\n", 0o444),
        ]);
        let top = tar_of(&[
            E::File("etc/.wh.gone", "", 0o644),
            // The same layer's file survives its own whiteout, before and after it.
            E::File("etc/fresh", "fresh\n", 0o600),
            E::File("etc/.wh.fresh", "", 0o644),
            E::File("opt/new", "new\n", 0o644),
            E::File("opt/.wh..wh..opq", "", 0o644),
            E::Hardlink("bin/hard", "bin/tool"),
            E::File("ro/g", "added under a read-only dir\n", 0o644),
        ]);
        let config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {
                "Entrypoint": ["/bin/tool"], "Cmd": ["--serve"],
                "Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/srv", "User": "1000:1000"
            },
            "rootfs": {"type": "layers", "diff_ids": [digest_of(&base), digest_of(&top)]}
        });
        let manifest = image(
            layout,
            config,
            &[(LAYER_TAR, base), (LAYER_GZIP, gzip(&top))],
        );
        write_index(
            layout,
            vec![with(manifest, "annotations", json!({REF_NAME: "1.0"}))],
        );
    }

    fn assert_two_layer_rootfs(img: &Image) {
        let root = &img.rootfs;
        assert_eq!(fs::read_to_string(root.join("etc/keep")).unwrap(), "kept\n");
        assert!(!root.join("etc/gone").exists(), "whiteout removed etc/gone");
        assert_eq!(
            fs::read_to_string(root.join("etc/fresh")).unwrap(),
            "fresh\n"
        );
        assert!(!root.join("opt/old").exists(), "opaque dir hid opt/old");
        assert!(!root.join("opt/sub").exists(), "opaque dir hid opt/sub");
        assert_eq!(fs::read_to_string(root.join("opt/new")).unwrap(), "new\n");
        for dir in ["etc", "opt", "bin", "ro"] {
            for e in fs::read_dir(root.join(dir)).unwrap() {
                let name = e.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with(".wh."), "{name:?} left");
            }
        }
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            PathBuf::from("tool")
        );
        assert_eq!(
            fs::read_link(root.join("bin/abs")).unwrap(),
            PathBuf::from("/etc/keep")
        );
        let tool = fs::metadata(root.join("bin/tool")).unwrap();
        let hard = fs::metadata(root.join("bin/hard")).unwrap();
        assert_eq!(tool.ino(), hard.ino(), "bin/hard is a hard link");
        assert_eq!(tool.mode() & 0o7777, 0o755);
        assert_eq!(
            fs::metadata(root.join("etc/fresh")).unwrap().mode() & 0o7777,
            0o600
        );
        assert_eq!(
            fs::metadata(root.join("ro")).unwrap().mode() & 0o7777,
            0o555
        );
        assert!(root.join("ro/g").exists());
    }

    #[test]
    fn imports_an_oci_layout_with_whiteouts_links_and_a_gzip_layer() {
        let s = Scratch::new("layers");
        let layout = s.0.join("layout");
        two_layer_layout(&layout);
        let store = ImageStore::new(s.0.join("store"));
        let explicit = ImageConfig {
            cmd: vec!["--debug".into()],
            ..ImageConfig::default()
        };
        let img = store.import(&layout, "app:1.0", explicit).unwrap();
        assert_two_layer_rootfs(&img);
        let c = &img.config;
        assert_eq!(c.entrypoint, vec!["/bin/tool"]);
        assert_eq!(c.cmd, vec!["--debug"], "the caller's config wins");
        assert_eq!(c.env, vec!["PATH=/bin", "GREETING=hi"]);
        assert_eq!(c.working_dir, "/srv");
        assert_eq!(c.user, "1000:1000");
        assert!(c.id.starts_with("sha256:") && c.id.len() == 71, "{}", c.id);
        // What `get` reads back is what was stored.
        assert_eq!(store.get("app:1.0").unwrap().config, img.config);

        // The same layout as a tar, and as a gzip tar of it.
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all(".", &layout).unwrap();
        let tar = b.into_inner().unwrap();
        fs::write(s.0.join("layout.tar"), &tar).unwrap();
        fs::write(s.0.join("layout.tar.gz"), gzip(&tar)).unwrap();
        for (file, reference) in [("layout.tar", "app:tar"), ("layout.tar.gz", "app:tgz")] {
            let img = store
                .import(&s.0.join(file), reference, ImageConfig::default())
                .unwrap();
            assert_two_layer_rootfs(&img);
            assert_eq!(img.config.cmd, vec!["--serve"]);
            assert!(!img.rootfs.join("oci-layout").exists());
            assert!(!img.rootfs.join("blobs").exists());
            assert!(!img.rootfs.parent().unwrap().join("layout").exists());
        }
    }

    #[test]
    fn picks_the_platforms_manifest_through_a_nested_index() {
        let s = Scratch::new("platforms");
        let layout = s.0.join("layout");
        let config = json!({"config": {"Cmd": ["run"]}});
        let arm = image(
            &layout,
            config.clone(),
            &[(LAYER_TAR, tar_of(&[E::File("arch", "arm64", 0o644)]))],
        );
        let amd = image(
            &layout,
            config,
            &[(LAYER_TAR, tar_of(&[E::File("arch", "amd64", 0o644)]))],
        );
        let plat = |os: &str, arch: &str| json!({"os": os, "architecture": arch});
        let nested = json!({
            "schemaVersion": 2, "mediaType": INDEX,
            "manifests": [
                with(arm, "platform", plat("linux", "arm64")),
                with(amd, "platform", plat("linux", "amd64")),
            ]
        });
        let nested = blob(&layout, INDEX, nested.to_string().as_bytes());
        write_index(&layout, vec![nested]);
        let store = ImageStore::new(s.0.join("store"));
        let p = |os: &str, arch: &str| Platform {
            os: os.into(),
            architecture: arch.into(),
        };
        for arch in ["amd64", "arm64"] {
            let img = store
                .import_for(
                    &layout,
                    "multi:1",
                    ImageConfig::default(),
                    &p("linux", arch),
                )
                .unwrap();
            assert_eq!(fs::read_to_string(img.rootfs.join("arch")).unwrap(), arch);
            assert_eq!(img.config.cmd, vec!["run"]);
        }
        let err = store
            .import_for(
                &layout,
                "multi:1",
                ImageConfig::default(),
                &p("linux", "s390x"),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("no image for linux/s390x")
                && err.to_string().contains("linux/arm64, linux/amd64"),
            "{err}"
        );
        // The host's platform is one of the two here (x86_64 or aarch64 machines).
        let host = Platform::host();
        if host.architecture == "amd64" || host.architecture == "arm64" {
            let img = store
                .import(&layout, "multi:host", ImageConfig::default())
                .unwrap();
            assert_eq!(
                fs::read_to_string(img.rootfs.join("arch")).unwrap(),
                host.architecture
            );
        }
    }

    #[test]
    fn the_ref_name_annotation_picks_between_images() {
        let s = Scratch::new("refname");
        let layout = s.0.join("layout");
        let one = image(
            &layout,
            json!({}),
            &[(LAYER_TAR, tar_of(&[E::File("v", "1", 0o644)]))],
        );
        let two = image(
            &layout,
            json!({}),
            &[(LAYER_TAR, tar_of(&[E::File("v", "2", 0o644)]))],
        );
        write_index(
            &layout,
            vec![
                with(one, "annotations", json!({REF_NAME: "1"})),
                with(
                    two,
                    "annotations",
                    json!({REF_NAME: "docker.io/library/app:2"}),
                ),
            ],
        );
        let store = ImageStore::new(s.0.join("store"));
        let v = |img: Image| fs::read_to_string(img.rootfs.join("v")).unwrap();
        assert_eq!(
            v(store
                .import(&layout, "app:1", ImageConfig::default())
                .unwrap()),
            "1"
        );
        assert_eq!(
            v(store
                .import(&layout, "app:2", ImageConfig::default())
                .unwrap()),
            "2"
        );
        let err = store
            .import(&layout, "app:3", ImageConfig::default())
            .unwrap_err();
        assert!(err.to_string().contains("several images"), "{err}");
    }

    #[test]
    fn a_blob_whose_digest_does_not_match_is_refused_and_nothing_is_left() {
        let s = Scratch::new("digest");
        let layout = s.0.join("layout");
        two_layer_layout(&layout);
        // Replace the plain layer's content, keeping its name (its expected digest).
        let index: Value =
            serde_json::from_str(&fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
        let mdigest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let manifest: Value = serde_json::from_slice(
            &fs::read(layout.join("blobs/sha256").join(&mdigest[7..])).unwrap(),
        )
        .unwrap();
        let ldigest = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let lpath = layout.join("blobs/sha256").join(&ldigest[7..]);
        let mut bytes = fs::read(&lpath).unwrap();
        bytes[600] ^= 1;
        fs::write(&lpath, &bytes).unwrap();
        let store = ImageStore::new(s.0.join("store"));
        match store.import(&layout, "app:1.0", ImageConfig::default()) {
            Err(ImageError::DigestMismatch {
                blob,
                expected,
                actual,
            }) => {
                assert_eq!(blob, lpath);
                assert_eq!(expected, ldigest);
                assert_eq!(actual, digest_of(&bytes));
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
        assert!(store.list().is_empty());
        let leftovers: Vec<_> = fs::read_dir(store.root()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_entry_climbing_out_of_the_rootfs_is_refused() {
        let s = Scratch::new("escape");
        let layout = s.0.join("a/b/layout");
        let evil = tar_of(&[
            E::Dir("x/", 0o755),
            E::File("x/../../evil", "pwned\n", 0o644),
        ]);
        let m = image(&layout, json!({}), &[(LAYER_TAR, evil)]);
        write_index(&layout, vec![m]);
        let store = ImageStore::new(s.0.join("a/b/store"));
        match store.import(&layout, "evil:1", ImageConfig::default()) {
            Err(ImageError::Escape { entry, .. }) => assert_eq!(entry, "x/../../evil"),
            other => panic!("expected an escape, got {other:?}"),
        }
        assert!(!s.0.join("a/b/store/evil").exists());
        assert!(!s.0.join("a/b/evil").exists());
        let leftovers: Vec<_> = fs::read_dir(store.root()).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // A hard link to a file outside is refused the same way.
        let layout2 = s.0.join("a/b/layout2");
        let m = image(
            &layout2,
            json!({}),
            &[(
                LAYER_TAR,
                tar_of(&[E::Hardlink("passwd", "../../../etc/passwd")]),
            )],
        );
        write_index(&layout2, vec![m]);
        assert!(matches!(
            store.import(&layout2, "evil:2", ImageConfig::default()),
            Err(ImageError::Escape { .. })
        ));
    }

    #[test]
    fn symbolic_links_in_parents_resolve_inside_the_rootfs() {
        let s = Scratch::new("symlinks");
        let layout = s.0.join("layout");
        let outside = s.0.join("outside");
        fs::create_dir_all(&outside).unwrap();
        let base = tar_of(&[
            E::Symlink("up", "../../../../../../../.."),
            E::Symlink("abs", outside.to_str().unwrap()),
        ]);
        let top = tar_of(&[
            E::File("up/through-up", "1", 0o644),
            E::File("abs/through-abs", "2", 0o644),
        ]);
        let m = image(&layout, json!({}), &[(LAYER_TAR, base), (LAYER_TAR, top)]);
        write_index(&layout, vec![m]);
        let store = ImageStore::new(s.0.join("store"));
        let img = store
            .import(&layout, "links:1", ImageConfig::default())
            .unwrap();
        // `..` stops at the root and an absolute target starts at the root.
        assert_eq!(
            fs::read_to_string(img.rootfs.join("through-up")).unwrap(),
            "1"
        );
        let inner = img.rootfs.join(outside.strip_prefix("/").unwrap());
        assert_eq!(fs::read_to_string(inner.join("through-abs")).unwrap(), "2");
        assert!(
            fs::read_dir(&outside).unwrap().next().is_none(),
            "nothing written outside"
        );
    }

    #[test]
    fn imports_zstd_layers() {
        let s = Scratch::new("zstd");
        let layout = s.0.join("layout");
        let layer = tar_of(&[E::Dir("d/", 0o750), E::File("d/z", "zstd!\n", 0o640)]);
        let m = image(
            &layout,
            json!({}),
            &[("application/vnd.oci.image.layer.v1.tar+zstd", zstd(&layer))],
        );
        write_index(&layout, vec![m]);
        let store = ImageStore::new(s.0.join("store"));
        let img = store
            .import(&layout, "z:1", ImageConfig::default())
            .unwrap();
        assert_eq!(
            fs::read_to_string(img.rootfs.join("d/z")).unwrap(),
            "zstd!\n"
        );
        assert_eq!(
            fs::metadata(img.rootfs.join("d")).unwrap().mode() & 0o7777,
            0o750
        );
    }

    #[test]
    fn imports_a_docker_save_archive_and_checks_its_diff_ids() {
        let s = Scratch::new("docker");
        let dir = s.0.join("saved");
        fs::create_dir_all(dir.join("l1")).unwrap();
        fs::create_dir_all(dir.join("l2")).unwrap();
        let l1 = tar_of(&[E::File("a", "a\n", 0o644), E::File("b", "b\n", 0o644)]);
        let l2 = tar_of(&[E::File(".wh.a", "", 0o644)]);
        fs::write(dir.join("l1/layer.tar"), &l1).unwrap();
        fs::write(dir.join("l2/layer.tar"), &l2).unwrap();
        let write_config = |diff_ids: Vec<String>| {
            let config = json!({
                "config": {"Entrypoint": null, "Cmd": ["sh"], "Env": ["A=1"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids}
            })
            .to_string();
            let name = format!("{}.json", &digest_of(config.as_bytes())[7..]);
            fs::write(dir.join(&name), &config).unwrap();
            let manifest = json!([{
                "Config": name, "RepoTags": ["busybox:latest", "busybox:1.36"],
                "Layers": ["l1/layer.tar", "l2/layer.tar"]
            }]);
            fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
        };
        write_config(vec![digest_of(&l1), digest_of(&l2)]);
        let store = ImageStore::new(s.0.join("store"));
        let img = store
            .import(&dir, "mybox:1", ImageConfig::default())
            .unwrap();
        assert!(!img.rootfs.join("a").exists());
        assert_eq!(fs::read_to_string(img.rootfs.join("b")).unwrap(), "b\n");
        assert_eq!(img.config.cmd, vec!["sh"]);
        assert_eq!(img.config.env, vec!["A=1"]);
        assert!(img.config.entrypoint.is_empty());

        // As a tar, too.
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all(".", &dir).unwrap();
        fs::write(s.0.join("saved.tar"), b.into_inner().unwrap()).unwrap();
        let img = store
            .import(&s.0.join("saved.tar"), "mybox:tar", ImageConfig::default())
            .unwrap();
        assert_eq!(fs::read_to_string(img.rootfs.join("b")).unwrap(), "b\n");

        // A layer that is not the one the config names is refused.
        write_config(vec![digest_of(&l2), digest_of(&l2)]);
        match store.import(&dir, "mybox:2", ImageConfig::default()) {
            Err(ImageError::DigestMismatch { blob, .. }) => {
                assert_eq!(blob, dir.join("l1/layer.tar"))
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_rootfs_tar_keeps_wh_names_and_gzip_is_recognised() {
        let s = Scratch::new("plain");
        let t = tar_of(&[E::Dir("x/", 0o700), E::File("x/.wh.kept", "k", 0o644)]);
        fs::write(s.0.join("root.tgz"), gzip(&t)).unwrap();
        let store = ImageStore::new(s.0.join("store"));
        let img = store
            .import(&s.0.join("root.tgz"), "plain:1", ImageConfig::default())
            .unwrap();
        assert_eq!(
            fs::read_to_string(img.rootfs.join("x/.wh.kept")).unwrap(),
            "k"
        );
        assert_eq!(
            fs::metadata(img.rootfs.join("x")).unwrap().mode() & 0o7777,
            0o700
        );
        assert!(img.config.id.is_empty());
    }
}
