//! What a custom operator reads and writes with `ctx.storage()`: local
//! paths and, when the pipeline's binary has object storage compiled in,
//! `s3://bucket/key` URLs, through one API, so that an operator written
//! for a folder also walks `s3://bucket/images/{{ ds }}/`.
//!
//! The methods block (call them from a plain `fn` operator, which runs
//! on a thread of its own); each has an `_async` twin for `async fn`
//! operators.

use std::io::Read;
use std::sync::Arc;

/// A file or object found by [`FileStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its full path or URL, ready for [`FileStore::get`].
    pub path: String,
    pub size: u64,
}

/// Why a file or object could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[cfg(feature = "s3")]
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(
        "{0}: this binary was built without object storage (chime build compiles it in when the pipeline's YAML names an s3:// URL or has `storage:`)"
    )]
    NoStorage(String),
    #[error("{0}: the work stopped before it finished")]
    Interrupted(String),
}

/// Reads and writes files and objects for an operator (see the module's
/// documentation). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FileStore {
    #[cfg(feature = "s3")]
    storage: Option<Arc<crate::storage::Storage>>,
    #[cfg(not(feature = "s3"))]
    _none: Option<Arc<()>>,
}

/// A path read as local or an object.
enum Place {
    Local(String),
    #[cfg(feature = "s3")]
    Object(crate::object_url::ObjectUrl),
}

impl FileStore {
    #[cfg(feature = "s3")]
    pub(crate) fn new(storage: Arc<crate::storage::Storage>) -> FileStore {
        FileStore {
            storage: Some(storage),
        }
    }

    fn place(&self, path: &str) -> Result<Place, FileError> {
        match crate::object_url::parse(path) {
            None => Ok(Place::Local(path.to_string())),
            #[cfg(feature = "s3")]
            Some(url) if self.storage.is_some() => Ok(Place::Object(
                url.map_err(crate::storage::StorageError::from)?,
            )),
            Some(_) => Err(FileError::NoStorage(path.to_string())),
        }
    }

    #[cfg(feature = "s3")]
    fn storage(&self) -> &crate::storage::Storage {
        self.storage
            .as_deref()
            .expect("place() gives objects only with storage")
    }

    /// The files directly in a folder, or the objects directly under a
    /// prefix (`s3://bucket/images/2026-11-30/`; not in sub-folders),
    /// sorted by path. A folder or prefix that does not exist has none.
    pub fn list(&self, dir: &str) -> Result<Vec<Listed>, FileError> {
        let mut found = match self.place(dir)? {
            Place::Local(d) => {
                let io = |source| FileError::Io {
                    path: d.clone(),
                    source,
                };
                let entries = match std::fs::read_dir(&d) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    other => other.map_err(io)?,
                };
                let mut out = Vec::new();
                for e in entries {
                    let e = e.map_err(io)?;
                    let meta = e.metadata().map_err(io)?;
                    if meta.is_file() {
                        out.push(Listed {
                            path: e.path().display().to_string(),
                            size: meta.len(),
                        });
                    }
                }
                out
            }
            #[cfg(feature = "s3")]
            Place::Object(url) => self
                .storage()
                .list(&url)?
                .into_iter()
                .map(|(path, size)| Listed { path, size })
                .collect(),
        };
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// A whole file or object.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let mut out = Vec::new();
        self.open(path)?
            .read_to_end(&mut out)
            .map_err(|source| FileError::Io {
                path: path.to_string(),
                source,
            })?;
        Ok(out)
    }

    /// A file or object as a stream of bytes, read as it arrives.
    pub fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, FileError> {
        match self.place(path)? {
            Place::Local(p) => Ok(Box::new(std::fs::File::open(&p).map_err(|source| {
                FileError::Io {
                    path: p.clone(),
                    source,
                }
            })?)),
            #[cfg(feature = "s3")]
            Place::Object(url) => Ok(Box::new(self.storage().open(&url)?)),
        }
    }

    /// Writes a whole file or object; it appears complete or not at all
    /// (a local file is written beside and renamed; its folder is made).
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<(), FileError> {
        match self.place(path)? {
            Place::Local(p) => {
                let io = |source| FileError::Io {
                    path: p.clone(),
                    source,
                };
                let target = std::path::Path::new(&p);
                if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut partial = target.as_os_str().to_owned();
                partial.push(".partial");
                std::fs::write(&partial, bytes).map_err(io)?;
                std::fs::rename(&partial, target).map_err(io)
            }
            #[cfg(feature = "s3")]
            Place::Object(url) => {
                use std::io::Write;
                let mut w = self.storage().create(&url)?;
                w.write_all(bytes).map_err(|source| FileError::Io {
                    path: path.to_string(),
                    source,
                })?;
                Ok(w.commit()?)
            }
        }
    }

    /// [`FileStore::list`] for an `async fn` operator.
    pub async fn list_async(&self, dir: &str) -> Result<Vec<Listed>, FileError> {
        let (me, d) = (self.clone(), dir.to_string());
        off_thread(dir, move || me.list(&d)).await
    }

    /// [`FileStore::get`] for an `async fn` operator.
    pub async fn get_async(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let (me, p) = (self.clone(), path.to_string());
        off_thread(path, move || me.get(&p)).await
    }

    /// [`FileStore::put`] for an `async fn` operator.
    pub async fn put_async(&self, path: &str, bytes: Vec<u8>) -> Result<(), FileError> {
        let (me, p) = (self.clone(), path.to_string());
        off_thread(path, move || me.put(&p, &bytes)).await
    }
}

/// Runs blocking file work on a thread of its own.
async fn off_thread<T: Send + 'static>(
    path: &str,
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| FileError::Interrupted(path.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_folders_are_listed_read_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileStore::default();
        let base = dir.path().display().to_string();
        files.put(&format!("{base}/day/b.png"), b"bb").unwrap();
        files.put(&format!("{base}/day/a.png"), b"a").unwrap();
        std::fs::create_dir_all(dir.path().join("day/sub")).unwrap();
        let listed = files.list(&format!("{base}/day")).unwrap();
        assert_eq!(
            listed,
            vec![
                Listed {
                    path: format!("{base}/day/a.png"),
                    size: 1
                },
                Listed {
                    path: format!("{base}/day/b.png"),
                    size: 2
                },
            ]
        );
        assert_eq!(files.get(&listed[1].path).unwrap(), b"bb");
        assert!(files.list(&format!("{base}/none")).unwrap().is_empty());
        assert!(!dir.path().join("day/a.png.partial").exists());
    }

    #[test]
    fn an_object_url_without_storage_says_what_to_do() {
        let e = FileStore::default().list("s3://lake/images/").unwrap_err();
        assert!(
            e.to_string().contains("built without object storage"),
            "{e}"
        );
    }
}
