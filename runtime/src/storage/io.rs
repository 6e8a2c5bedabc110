//! Objects as files for a task's blocking thread: [`ObjectReader`] streams
//! an object (never all of it in memory), [`ObjectWriter`] uploads one in
//! parts as it is written and makes it visible only at
//! [`ObjectWriter::commit`], [`ObjectChunks`] gives Parquet's reader the
//! ranges it asks for.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use tokio::runtime::Handle;

use super::{ObjectUrl, Storage, StorageError};

/// The size of an upload's parts (S3 takes 5 MiB to 5 GiB, but for the
/// last), and how many may be on their way at once: at most about
/// `PART * (IN_FLIGHT + 1)` bytes of an output are in memory.
const PART: usize = 8 << 20;
const IN_FLIGHT: usize = 4;

fn io_error(e: StorageError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// How much of an object a stream reads per request. One request per
/// window, not one for the whole object: a request that lasts (a large
/// input read as slowly as the task consumes it) would run into the
/// client's time limit.
const READ_WINDOW: u64 = 8 << 20;

/// An object being read, front to back, a window at a time.
pub struct ObjectReader {
    handle: Handle,
    store: Arc<AmazonS3>,
    path: Path,
    url: ObjectUrl,
    pos: u64,
    current: Bytes,
    size: u64,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("url", &self.url)
            .finish()
    }
}

impl ObjectReader {
    /// The object's size in bytes (of the whole object).
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.current.is_empty() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let range = self.pos..(self.pos + READ_WINDOW).min(self.size);
            let (store, path) = (self.store.clone(), self.path.clone());
            self.current = self
                .handle
                .block_on(async move { store.get_range(&path, range).await })
                .map_err(|e| io_error(StorageError::object(&self.url, e)))?;
            if self.current.is_empty() {
                return Err(io_error(StorageError::Object {
                    url: self.url.to_string(),
                    detail: "the object ended before its size: changed while read?".into(),
                }));
            }
            self.pos += self.current.len() as u64;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

impl Storage {
    /// Opens the object at `url` for reading.
    pub fn open(&self, url: &ObjectUrl) -> Result<ObjectReader, StorageError> {
        let (store, path) = self.locate(url)?;
        let (head_store, head_path) = (store.clone(), path.clone());
        let meta = self
            .block_on(async move { head_store.head(&head_path).await })?
            .map_err(|e| StorageError::object(url, e))?;
        Ok(ObjectReader {
            handle: self.runtime()?.handle().clone(),
            store,
            path,
            url: url.clone(),
            pos: 0,
            current: Bytes::new(),
            size: meta.size,
        })
    }

    /// Starts writing the object at `url`: nothing is visible there until
    /// [`ObjectWriter::commit`], and an uncommitted writer leaves nothing.
    pub fn create(&self, url: &ObjectUrl) -> Result<ObjectWriter, StorageError> {
        let (store, path) = self.locate(url)?;
        Ok(ObjectWriter {
            handle: self.runtime()?.handle().clone(),
            store,
            path,
            url: url.clone(),
            buf: Vec::new(),
            upload: None,
            done: false,
        })
    }

    /// The object at `url` for Parquet's reader, which reads the footer
    /// first and then the column chunks it needs.
    pub fn chunks(&self, url: &ObjectUrl) -> Result<ObjectChunks, StorageError> {
        let (store, path) = self.locate(url)?;
        let head_store = store.clone();
        let head_path = path.clone();
        let meta = self
            .block_on(async move { head_store.head(&head_path).await })?
            .map_err(|e| StorageError::object(url, e))?;
        Ok(ObjectChunks {
            inner: Arc::new(Chunks {
                handle: self.runtime()?.handle().clone(),
                store,
                path,
                url: url.clone(),
                size: meta.size,
                windows: std::sync::Mutex::default(),
            }),
        })
    }
}

/// An object being written. Up to one part is kept in memory; from the
/// first full part on it is a multipart upload, whose parts go out while
/// the task writes the next. S3 shows the object only when the upload is
/// completed, so a task that fails, or is killed, leaves none.
pub struct ObjectWriter {
    handle: Handle,
    store: Arc<AmazonS3>,
    path: Path,
    url: ObjectUrl,
    buf: Vec<u8>,
    upload: Option<WriteMultipart>,
    done: bool,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("url", &self.url)
            .finish()
    }
}

impl ObjectWriter {
    pub fn url(&self) -> &ObjectUrl {
        &self.url
    }

    fn start_upload(&mut self) -> Result<(), StorageError> {
        let store = self.store.clone();
        let path = self.path.clone();
        let upload = self
            .handle
            .block_on(async move { store.put_multipart(&path).await })
            .map_err(|e| StorageError::object(&self.url, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        {
            // Parts are sent by tasks spawned on the storage's runtime.
            let _in = self.handle.enter();
            w.write(&self.buf);
        }
        self.buf = Vec::new();
        self.upload = Some(w);
        Ok(())
    }

    /// Makes the object visible, whole.
    pub fn commit(mut self) -> Result<(), StorageError> {
        self.done = true;
        let url = self.url.clone();
        let result = match self.upload.take() {
            Some(w) => self.handle.block_on(w.finish()).map(|_| ()),
            None => {
                let body = std::mem::take(&mut self.buf);
                let (store, path) = (self.store.clone(), self.path.clone());
                self.handle
                    .block_on(async move { store.put(&path, body.into()).await })
                    .map(|_| ())
            }
        };
        result.map_err(|e| StorageError::object(&url, e))
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match &mut self.upload {
            Some(w) => {
                self.handle
                    .block_on(w.wait_for_capacity(IN_FLIGHT))
                    .map_err(|e| io_error(StorageError::object(&self.url, e)))?;
                let take = data.len().min(PART);
                let _in = self.handle.enter();
                w.write(&data[..take]);
                Ok(take)
            }
            None => {
                // Up to a part at a time: a large write then waits for room
                // as its parts go, instead of sending them all at once.
                let take = data.len().min(PART.saturating_sub(self.buf.len()).max(1));
                self.buf.extend_from_slice(&data[..take]);
                if self.buf.len() >= PART {
                    self.start_upload().map_err(io_error)?;
                }
                Ok(take)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Parts are sent as they fill; the object is whole only at commit.
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if !self.done
            && let Some(w) = self.upload.take()
        {
            // Not committed: the parts sent so far are dropped. This may run
            // on an async thread, where it must not block: the abort goes on
            // in the background (and S3 never shows an uncompleted upload).
            self.handle.spawn(async move {
                let _ = w.abort().await;
            });
        }
    }
}

/// How much of an object Parquet's reader gets per request at least: it
/// asks for a page header (a few bytes), then the page (about 1 MiB),
/// then the next header, each of which would otherwise be a request.
const WINDOW: u64 = 1 << 20;

/// How many windows are kept: the reader goes through its columns' pages
/// side by side (a batch of rows takes values from each), so each column
/// read needs its own window. At most about `WINDOWS * WINDOW` bytes.
const WINDOWS: usize = 32;

/// An object for Parquet's reader: the footer, then the column chunks'
/// pages, fetched a window of at least [`WINDOW`] bytes at a time, the
/// last [`WINDOWS`] kept.
pub struct ObjectChunks {
    inner: Arc<Chunks>,
}

struct Chunks {
    handle: Handle,
    store: Arc<AmazonS3>,
    path: Path,
    url: ObjectUrl,
    size: u64,
    /// The windows fetched, most recently used first: where each starts,
    /// and its bytes.
    windows: std::sync::Mutex<std::collections::VecDeque<(u64, Bytes)>>,
}

impl std::fmt::Debug for ObjectChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectChunks")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl Chunks {
    /// `len` bytes from `start`, from the window or a new one.
    fn bytes(&self, start: u64, len: u64) -> Result<Bytes, StorageError> {
        if start.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(StorageError::Object {
                url: self.url.to_string(),
                detail: format!(
                    "a read of {len} bytes at {start} goes past its end ({} bytes): a damaged file?",
                    self.size
                ),
            });
        }
        let end = start + len;
        if let Ok(mut windows) = self.windows.lock()
            && let Some(i) = windows
                .iter()
                .position(|(at, b)| start >= *at && end <= at + b.len() as u64)
        {
            let hit = windows.remove(i).expect("found at i");
            let out = hit
                .1
                .slice((start - hit.0) as usize..(end - hit.0) as usize);
            windows.push_front(hit);
            return Ok(out);
        }
        let fetch_end = (start + len.max(WINDOW)).min(self.size);
        let (store, path) = (self.store.clone(), self.path.clone());
        let got = self
            .handle
            .block_on(async move { store.get_range(&path, start..fetch_end).await })
            .map_err(|e| StorageError::object(&self.url, e))?;
        let out = got.slice(..(end - start).min(got.len() as u64) as usize);
        if let Ok(mut windows) = self.windows.lock() {
            windows.push_front((start, got));
            windows.truncate(WINDOWS);
        }
        Ok(out)
    }
}

/// A reader from an offset of an [`ObjectChunks`], for a page header.
pub struct ChunkRead {
    inner: Arc<Chunks>,
    pos: u64,
}

impl Read for ChunkRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.inner.size || buf.is_empty() {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(self.inner.size - self.pos);
        let got = self.inner.bytes(self.pos, len).map_err(io_error)?;
        buf[..got.len()].copy_from_slice(&got);
        self.pos += got.len() as u64;
        Ok(got.len())
    }
}

#[cfg(feature = "parquet")]
impl parquet::file::reader::Length for ObjectChunks {
    fn len(&self) -> u64 {
        self.inner.size
    }
}

#[cfg(feature = "parquet")]
impl parquet::file::reader::ChunkReader for ObjectChunks {
    type T = ChunkRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(ChunkRead {
            inner: self.inner.clone(),
            pos: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.inner
            .bytes(start, length as u64)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}
