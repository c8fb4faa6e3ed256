//! The single-host provisioner `flotilla.io/local-path`: a claim of a StorageClass with this
//! provisioner gets a PersistentVolume whose storage is a directory of the host,
//! `hostPath: {path: <root>/<volume name>, type: DirectoryOrCreate}`, made when the first pod
//! mounts it (the runtime's hostPath `checkType`).
//!
//! It plugs into the PersistentVolume controller as a
//! [`Provisioner`], in the manner of
//! Rancher's local-path-provisioner or the hostpath CSI driver. Provisioning is pure (it only
//! computes the volume's spec); deleting (reclaim policy `Delete`) removes the directory, and
//! nothing outside `<root>`. The host must allow `<root>` in
//! [`RuntimeConfig::allowed_host_paths`](crate::RuntimeConfig::allowed_host_paths), or pods of
//! such claims fail with `CreateContainerConfigError`.

use std::path::{Path, PathBuf};

use flotilla_controllers::persistent_volume::{ProvisionError, Provisioner};
use flotilla_model::api::{
    HostPathType, HostPathVolumeSource, Node, PersistentVolume, PersistentVolumeAccessMode,
    PersistentVolumeClaim, PersistentVolumeMode, PersistentVolumeSpec, StorageClass,
    RESOURCE_STORAGE,
};

/// The provisioner's name, for `StorageClass.provisioner`.
pub const LOCAL_PATH_PROVISIONER: &str = "flotilla.io/local-path";

/// Volumes as directories under one root of the host.
#[derive(Clone, Debug)]
pub struct LocalPathProvisioner {
    root: PathBuf,
}

impl LocalPathProvisioner {
    /// Volumes under `root` (an absolute path, e.g. `/var/lib/flotilla/volumes`).
    pub fn new(root: impl Into<PathBuf>) -> LocalPathProvisioner {
        LocalPathProvisioner { root: root.into() }
    }

    /// The directory of the volume named `volume_name`.
    pub fn volume_path(&self, volume_name: &str) -> PathBuf {
        self.root.join(volume_name)
    }
}

/// A volume name that is one plain path component (the controller names volumes
/// `pvc-<claim uid>`; anything else is refused rather than joined to the root).
fn check_name(name: &str) -> Result<(), ProvisionError> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0');
    if plain {
        Ok(())
    } else {
        Err(ProvisionError(format!("invalid volume name {name:?}")))
    }
}

impl Provisioner for LocalPathProvisioner {
    fn name(&self) -> &str {
        LOCAL_PATH_PROVISIONER
    }

    fn provision(
        &mut self,
        volume_name: &str,
        claim: &PersistentVolumeClaim,
        _class: &StorageClass,
        _selected_node: Option<&Node>,
    ) -> Result<PersistentVolumeSpec, ProvisionError> {
        check_name(volume_name)?;
        if !self.root.is_absolute() {
            return Err(ProvisionError(format!(
                "local-path root {} is not absolute",
                self.root.display()
            )));
        }
        // pv_controller.go provisionClaimOperation: the request is required.
        let Some(request) = claim.storage_request().copied() else {
            return Err(ProvisionError(
                "claim.Spec.Resources.Requests[storage] is required".into(),
            ));
        };
        if claim.spec.volume_mode == Some(PersistentVolumeMode::Block) {
            return Err(ProvisionError(
                "flotilla.io/local-path provides filesystem volumes only".into(),
            ));
        }
        let mut access_modes = claim.spec.access_modes.clone();
        if access_modes.is_empty() {
            access_modes.push(PersistentVolumeAccessMode::ReadWriteOnce);
        }
        // One host: no node affinity is needed. The capacity is the request; nothing
        // enforces it (a directory has no quota), as with local-path-provisioner.
        Ok(PersistentVolumeSpec {
            capacity: [(RESOURCE_STORAGE.to_string(), request)].into(),
            host_path: Some(HostPathVolumeSource {
                path: self.volume_path(volume_name).display().to_string(),
                r#type: Some(HostPathType::DirectoryOrCreate),
            }),
            access_modes,
            volume_mode: claim.spec.volume_mode,
            ..Default::default()
        })
    }

    fn delete(&mut self, volume: &PersistentVolume) -> Result<(), ProvisionError> {
        let name = &volume.metadata.name;
        check_name(name)?;
        let expected = self.volume_path(name);
        match &volume.spec.host_path {
            Some(hp) if Path::new(&hp.path) == expected => {}
            _ => {
                return Err(ProvisionError(format!(
                    "volume {name:?} was not created by {LOCAL_PATH_PROVISIONER}"
                )))
            }
        }
        match std::fs::remove_dir_all(&expected) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ProvisionError(format!("{}: {e}", expected.display()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(storage: Option<&str>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = "data".into();
        if let Some(s) = storage {
            c.spec
                .resources
                .requests
                .insert(RESOURCE_STORAGE.into(), s.parse().unwrap());
        }
        c
    }

    #[test]
    fn provisions_a_directory_or_create_host_path_under_the_root() {
        let mut p = LocalPathProvisioner::new("/var/lib/flotilla/volumes");
        let class = StorageClass::default();
        let spec = p
            .provision("pvc-1234", &claim(Some("1Gi")), &class, None)
            .unwrap();
        let hp = spec.host_path.unwrap();
        assert_eq!(hp.path, "/var/lib/flotilla/volumes/pvc-1234");
        assert_eq!(hp.r#type, Some(HostPathType::DirectoryOrCreate));
        assert_eq!(
            spec.capacity.get(RESOURCE_STORAGE),
            Some(&"1Gi".parse().unwrap())
        );
        assert_eq!(
            spec.access_modes,
            vec![PersistentVolumeAccessMode::ReadWriteOnce]
        );
        assert!(p.provision("pvc-1", &claim(None), &class, None).is_err());
        for bad in ["../etc", "a/b", "", ".."] {
            assert!(p.provision(bad, &claim(Some("1Gi")), &class, None).is_err());
        }
        assert!(LocalPathProvisioner::new("rel")
            .provision("pvc-1", &claim(Some("1Gi")), &class, None)
            .is_err());
    }

    #[test]
    fn delete_removes_only_its_own_directory() {
        let root = std::env::temp_dir().join(format!("flotilla-local-path-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("pvc-1/sub")).unwrap();
        std::fs::write(root.join("pvc-1/sub/file"), "x").unwrap();
        let mut p = LocalPathProvisioner::new(&root);
        let mut volume = PersistentVolume::default();
        volume.metadata.name = "pvc-1".into();
        volume.spec = p
            .provision("pvc-1", &claim(Some("1Gi")), &StorageClass::default(), None)
            .unwrap();
        // A volume whose path is elsewhere is not ours to delete.
        let mut foreign = volume.clone();
        foreign.spec.host_path = Some(HostPathVolumeSource {
            path: root.display().to_string(),
            r#type: None,
        });
        assert!(p.delete(&foreign).is_err());
        assert!(root.join("pvc-1").exists());
        p.delete(&volume).unwrap();
        assert!(!root.join("pvc-1").exists());
        assert!(root.exists());
        // Deleting again is fine: the storage is gone either way.
        p.delete(&volume).unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
