//! A folder of images in class sub-folders (`DIR/<class>/<image>`, the ImageNet validation layout) as an
//! [`ImageSet`]: labels are class indices in sorted folder order; images may be resized and centre-cropped.
//! [`ImageFolder`] lists it and reads every header first, then decodes it whole or piece by piece.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::decode;
use super::resample::{self, PilFilter};
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::fsio;

/// The most file bytes [`ImageFolder::open`] keeps in memory for decoding (64 MiB: about 500 ImageNet photographs),
/// so that a small folder is read from disk once; files beyond it are read again when decoded.
const KEEP_BYTES: usize = 64 << 20;

/// Image file extensions read, in any letter case (`.JPEG` in ImageNet, `.png`, `.jpg`).
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether `path` names an image file by its extension (any letter case).
pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The largest `--crop` size accepted (ImageNet-C uses 224).
pub const MAX_CROP: usize = 4096;

/// Refuses a crop size of 0 or above [`MAX_CROP`].
pub fn check_crop(crop: Option<usize>) -> Result<()> {
    match crop {
        Some(s) if s == 0 || s > MAX_CROP => Err(Error::config(
            "crop",
            format!("{s} is not an image size from 1 to {MAX_CROP} pixels (ImageNet-C uses 224)"),
        )),
        _ => Ok(()),
    }
}

/// One image file of a folder, with what its header declares.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    label: u8,
    /// `(height, width, channels)` from the header ([`decode::header`]).
    header: (usize, usize, usize),
    /// The SHA-256 of the bytes decoded, from the first time the file was decoded (or hashed for the checksum).
    digest: OnceLock<String>,
    /// The bytes read when the folder was opened, kept for decoding while [`KEEP_BYTES`] allows.
    kept: Option<Vec<u8>>,
}

impl Entry {
    /// Records the SHA-256 of `bytes`, just read from the file: the first time it is the file's; later it must
    /// be the same, else the file changed while the folder was being read.
    fn record(&self, bytes: &[u8]) -> Result<()> {
        let digest = fsio::sha256_hex(bytes);
        if *self.digest.get_or_init(|| digest.clone()) != digest {
            return Err(Error::format(
                &self.path,
                "changed while the folder was being read (another SHA-256)",
            ));
        }
        Ok(())
    }

    /// The file's bytes: those kept when the folder was opened (hashed the first time only: they cannot
    /// change), else read now and [`Entry::record`]ed.
    fn bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.kept {
            Some(kept) => {
                if self.digest.get().is_none() {
                    self.record(kept)?;
                }
                Ok(Cow::Borrowed(kept))
            }
            None => {
                let bytes = fsio::read(&self.path)?;
                self.record(&bytes)?;
                Ok(Cow::Owned(bytes))
            }
        }
    }
}

/// A folder of images in class sub-folders, listed and every file's header read, but nothing decoded: the set
/// can be decoded whole ([`ImageFolder::load`]) or piece by piece ([`ImageFolder::decode_into`]), so that a
/// large folder never needs to be held decoded in memory.
///
/// Opening reads every file and parses its header (size and channels), so that the set's shape is known before
/// any image is decoded and a folder of mixed sizes without `--crop` is refused before any work; files past the
/// set's `limit` are hashed there and never decoded. The bytes read are kept for decoding up to 64 MiB in
/// all (which files are kept depends on the order the threads read them in, never the result); a file not kept
/// is read again when it is decoded. Decoding checks that a file decodes to the size and channels its header
/// declared, and hashes it: the dataset checksum ([`ImageFolder::checksum`]) is over the bytes decoded, and a
/// file read again for a second decoding (a folder streamed for several corruptions) must have the same SHA-256
/// both times, else it is an error naming the file, never a set of mixed provenance.
#[derive(Debug)]
pub struct ImageFolder {
    dir: PathBuf,
    /// Every file of the folder (the checksum covers them all).
    entries: Vec<Entry>,
    /// How many of them, from the first, make the set.
    used: usize,
    classes: Vec<String>,
    crop: Option<usize>,
    /// Rows of every image of the set.
    pub height: usize,
    /// Columns of every image of the set.
    pub width: usize,
    /// 1 when every file is gray, 3 otherwise (gray files spread to RGB).
    pub channels: usize,
}

impl ImageFolder {
    /// Lists `dir` (labels are class indices in sorted folder order, files sorted within a class) and reads every
    /// file's header. With `crop = Some(s)` every image will be resized (PIL bilinear, antialiased) so that its
    /// shorter side is `round(s · 256/224)` and centre-cropped to `s × s` — the ImageNet-C preprocessing for
    /// `s = 224`; without it every image must already have the same size. Colour files give RGB sets; a folder of
    /// gray files gives gray. The set is the first `limit` images (all without one); the shape and the checksum
    /// are those of the whole folder, so that a set of the first images is recognised as made from it.
    pub fn open(dir: &Path, crop: Option<usize>, limit: Option<usize>) -> Result<ImageFolder> {
        Self::open_keeping(dir, crop, limit, KEEP_BYTES)
    }

    /// [`ImageFolder::open`], keeping at most `keep` bytes of the files read for decoding.
    fn open_keeping(
        dir: &Path,
        crop: Option<usize>,
        limit: Option<usize>,
        keep: usize,
    ) -> Result<ImageFolder> {
        check_crop(crop)?;
        let (files, classes) = list(dir)?;
        let used = limit.map_or(files.len(), |n| n.min(files.len()));
        let kept_bytes = AtomicUsize::new(0);
        let entries: Vec<Entry> = files
            .into_par_iter()
            .enumerate()
            .map(|(k, (path, label))| {
                let bytes = fsio::read(&path)?;
                let header = decode::header(&path, &bytes)?;
                let digest = OnceLock::new();
                if k >= used {
                    let _ = digest.set(fsio::sha256_hex(&bytes));
                    return Ok(Entry { digest, path, label, header, kept: None });
                }
                let room = kept_bytes.fetch_add(bytes.len(), Ordering::Relaxed) + bytes.len() <= keep;
                Ok(Entry { digest, path, label, header, kept: room.then_some(bytes) })
            })
            .collect::<Result<_>>()?;
        let channels = if entries.iter().all(|e| e.header.2 == 1) { 1 } else { 3 };
        let (height, width) = match crop {
            Some(s) => (s, s),
            None => {
                let (h, w, _) = entries[0].header;
                if let Some(e) = entries.iter().find(|e| (e.header.0, e.header.1) != (h, w)) {
                    let (eh, ew, _) = e.header;
                    return Err(Error::format(
                        &e.path,
                        format!("image is {ew}x{eh}, the first is {w}x{h}; pass --crop SIZE"),
                    ));
                }
                (h, w)
            }
        };
        Ok(ImageFolder { dir: dir.to_path_buf(), entries, used, classes, crop, height, width, channels })
    }

    /// Images in the set.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether the set is empty (a limit of 0).
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Bytes of one decoded image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// The label of every image, in order.
    pub fn labels(&self) -> Vec<u8> {
        self.entries[..self.used].iter().map(|e| e.label).collect()
    }

    /// The class folder names, in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The folder's checksum: the SHA-256 of the listing `<sha256>  <path below dir>` of every file (all of
    /// them, past the limit too), one per line. Files of the set are hashed as they are decoded; one not decoded
    /// yet is read and hashed now.
    pub fn checksum(&self) -> Result<String> {
        // Of the bytes a later decoding will use.
        self.entries.par_iter().filter(|e| e.digest.get().is_none()).try_for_each(|e| e.bytes().map(drop))?;
        let mut listing = String::new();
        for e in &self.entries {
            let rel = e.path.strip_prefix(&self.dir).unwrap_or(&e.path);
            let digest = e.digest.get().map_or("", String::as_str);
            listing.push_str(&format!("{digest}  {}\n", rel.display()));
        }
        Ok(fsio::sha256_hex(listing.as_bytes()))
    }

    /// Decodes the images `range` into `out` (`range.len() · image_len` bytes), in parallel. Files are decoded
    /// strictly ([`super::decode`]): one cut short or damaged is an error naming it, as is one that decodes to
    /// another size or channels than its header declared, or whose bytes changed since it was last decoded.
    pub fn decode_into(&self, range: std::ops::Range<usize>, out: &mut [u8]) -> Result<()> {
        let len = self.image_len();
        let entries = self.entries[..self.used].get(range.clone()).ok_or_else(|| Error::Shape {
            context: format!("images {range:?} of {}", self.dir.display()),
            expected: vec![self.len()],
            found: vec![range.end],
        })?;
        if out.len() != entries.len() * len {
            return Err(Error::Shape {
                context: "decoded images".into(),
                expected: vec![entries.len(), len],
                found: vec![out.len()],
            });
        }
        out.par_chunks_mut(len).zip(entries.par_iter()).try_for_each(|(dst, e)| self.decode_one(e, dst))
    }

    /// Every image decoded: the set, the class names and the checksum.
    pub fn load(self) -> Result<(ImageSet, Vec<String>, String)> {
        let mut pixels = vec![0u8; self.len() * self.image_len()];
        self.decode_into(0..self.len(), &mut pixels)?;
        let set = ImageSet::new(self.height, self.width, self.channels, pixels, self.labels())?;
        let checksum = self.checksum()?;
        Ok((set, self.classes, checksum))
    }

    /// One file decoded (and resized and cropped) into its slot `dst`, gray spread to RGB in an RGB set.
    fn decode_one(&self, e: &Entry, dst: &mut [u8]) -> Result<()> {
        let bytes = e.bytes()?;
        // With a crop only the pixels the resize reads are decoded (the others do not change the result).
        let [rows, cols] = match self.crop {
            Some(s) => crop_span(e.header.0, e.header.1, s),
            None => [0..e.header.0, 0..e.header.1],
        };
        let d = decode::decode_part(&e.path, &bytes, rows, cols)?;
        if (d.height, d.width, d.channels) != e.header {
            return Err(Error::format(
                &e.path,
                format!(
                    "decodes to {}x{}x{}, its header declares {}x{}x{}",
                    d.width, d.height, d.channels, e.header.1, e.header.0, e.header.2
                ),
            ));
        }
        let plane = self.height * self.width;
        match self.crop {
            Some(s) => {
                resize_crop(&d.pixels, d.height, d.width, d.channels, s, &mut dst[..plane * d.channels])
            }
            None => dst[..d.pixels.len()].copy_from_slice(&d.pixels),
        }
        if d.channels < self.channels {
            // Backwards, so that no gray value is overwritten before it is spread (3i ≥ i).
            for i in (0..plane).rev() {
                let v = dst[i];
                dst[3 * i..3 * i + 3].fill(v);
            }
        }
        Ok(())
    }
}

/// The images of `dir`, with their labels and the sorted class names, plus a checksum over the files: the
/// whole of [`ImageFolder::open`] decoded.
pub fn load_image_folder(dir: &Path, crop: Option<usize>) -> Result<(ImageSet, Vec<String>, String)> {
    ImageFolder::open(dir, crop, None)?.load()
}

/// Image files with their labels.
type Files = Vec<(PathBuf, u8)>;

/// The image files of `dir`'s class folders with their labels (class folders sorted, files sorted within each,
/// folders without images skipped), and the class names.
fn list(dir: &Path) -> Result<(Files, Vec<String>)> {
    let mut classes = Vec::new();
    let mut files: Vec<(PathBuf, u8)> = Vec::new();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("listing", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| Error::io("listing", &sub, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_image_file(p))
            .collect();
        if names.is_empty() {
            continue;
        }
        if classes.len() == 256 {
            return Err(Error::TooLarge { method: "image folder", problem: "more than 256 classes".into() });
        }
        names.sort();
        let label = classes.len() as u8;
        classes.push(sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        files.extend(names.into_iter().map(|p| (p, label)));
    }
    if files.is_empty() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            what: "images in class folders (DIR/<class>/*.png|jpg)",
        });
    }
    Ok((files, classes))
}

/// The ImageNet-C preprocessing of an `h × w` image to `s × s`: the size `[nh, nw]` of PIL's bilinear resize of
/// the shorter side to `round(s · 256/224)`, and the rows and columns of its centre `s × s` crop.
pub fn crop_geometry(h: usize, w: usize, s: usize) -> ([usize; 2], Range<usize>, Range<usize>) {
    let short = (s as f64 * 256.0 / 224.0).round() as usize;
    let (nh, nw) = if h <= w {
        (short, ((w as f64 * short as f64 / h as f64).round() as usize).max(short))
    } else {
        (((h as f64 * short as f64 / w as f64).round() as usize).max(short), short)
    };
    let (top, left) = ((nh - s) / 2, (nw - s) / 2);
    ([nh, nw], top..top + s, left..left + s)
}

/// The rows and columns of an `h × w` image that [`resize_crop`] to `s` reads with a nonzero weight: only
/// these need decoding.
pub fn crop_span(h: usize, w: usize, s: usize) -> [Range<usize>; 2] {
    let (size, rows, cols) = crop_geometry(h, w, s);
    resample::pil_window_span([h, w], size, rows, cols, PilFilter::Bilinear)
}

/// The ImageNet-C preprocessing of one decoded image (`h × w × c`) into `out` (`s · s · c` bytes): PIL's
/// bilinear resize of the shorter side to `round(s · 256/224)`, then the centre `s × s` crop.
fn resize_crop(raw: &[u8], h: usize, w: usize, c: usize, s: usize, out: &mut [u8]) {
    let (size, rows, cols) = crop_geometry(h, w, s);
    // Only the centre crop of the resized image is computed (the same pixels as resizing, then cropping).
    resample::pil_resize_window_into(raw, [h, w, c], size, rows, cols, PilFilter::Bilinear, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(path: &Path, shade: u8, w: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        ::image::RgbImage::from_pixel(w, 6, ::image::Rgb([shade, 2, 3])).save(path).unwrap();
    }

    /// A file read again for a second decoding (a streamed folder, corrupted several times, too large to keep)
    /// whose bytes changed in between is refused by name, not decoded into the set.
    #[test]
    fn a_file_changed_between_two_decodings_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("c/0.png"), dir.path().join("c/1.png"));
        save(&a, 10, 8);
        save(&b, 20, 8);
        let folder = ImageFolder::open_keeping(dir.path(), None, None, 0).unwrap();
        let mut out = vec![0u8; 2 * folder.image_len()];
        folder.decode_into(0..2, &mut out).unwrap();
        assert_eq!((out[0], out[folder.image_len()]), (10, 20));
        save(&b, 30, 8);
        let err = folder.decode_into(0..2, &mut out).unwrap_err().to_string();
        assert!(err.contains("1.png") && err.contains("changed"), "{err}");
        // Out of range or the wrong buffer size: an error, not a panic.
        assert!(folder.decode_into(1..3, &mut out[..folder.image_len() * 2]).is_err());
        assert!(folder.decode_into(0..1, &mut out).is_err());
    }

    /// A folder small enough to keep is read from disk once: a file changed after the folder was opened changes
    /// neither the images nor the checksum, which are both of the bytes read then.
    #[test]
    fn a_kept_folder_is_decoded_from_the_bytes_read_when_it_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("c/0.png"), dir.path().join("c/1.png"));
        save(&a, 10, 8);
        save(&b, 20, 8);
        let want = ImageFolder::open_keeping(dir.path(), None, None, 0).unwrap().checksum().unwrap();
        // The checksum taken before any decoding is of the kept bytes too.
        let folder = ImageFolder::open(dir.path(), None, None).unwrap();
        save(&b, 30, 8);
        assert_eq!(folder.checksum().unwrap(), want);
        save(&b, 20, 8);
        let folder = ImageFolder::open(dir.path(), None, None).unwrap();
        save(&b, 30, 8);
        let mut out = vec![0u8; 2 * folder.image_len()];
        for _ in 0..2 {
            folder.decode_into(0..2, &mut out).unwrap();
            assert_eq!((out[0], out[folder.image_len()]), (10, 20));
        }
        assert_eq!(folder.checksum().unwrap(), want);
    }

    /// The checksum is the SHA-256 of the listing `<sha256 of the file>  <path below the folder>` of every file,
    /// whether the files were decoded, some of them only (`--limit`), or none.
    #[test]
    fn the_checksum_lists_every_file_however_many_were_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let files = ["a/0.png", "a/1.png", "b/0.png"];
        for (k, f) in files.iter().enumerate() {
            save(&dir.path().join(f), 10 * k as u8, 5);
        }
        let listing: String = files
            .iter()
            .map(|f| format!("{}  {f}\n", fsio::sha256_hex(&std::fs::read(dir.path().join(f)).unwrap())))
            .collect();
        let want = fsio::sha256_hex(listing.as_bytes());
        assert_eq!(ImageFolder::open(dir.path(), None, None).unwrap().checksum().unwrap(), want);
        let some = ImageFolder::open(dir.path(), None, Some(1)).unwrap();
        let mut out = vec![0u8; some.image_len()];
        some.decode_into(0..1, &mut out).unwrap();
        assert_eq!((some.len(), some.labels()), (1, vec![0]));
        assert_eq!(some.checksum().unwrap(), want);
        assert_eq!(load_image_folder(dir.path(), None).unwrap().2, want);
    }

    /// Each image of a folder of gray and colour files of several sizes and formats is the file decoded, made RGB
    /// and then resized and cropped: gray files are spread to RGB (after the resize, which gives the same bytes),
    /// and a gray-only folder stays gray.
    #[test]
    fn every_image_is_its_file_decoded_resized_and_cropped() {
        let dir = tempfile::tempdir().unwrap();
        let f = |x: u32, y: u32| ((x * 11 + y * 7) % 256) as u8;
        let mixed = dir.path().join("mixed");
        std::fs::create_dir_all(mixed.join("a")).unwrap();
        std::fs::create_dir_all(mixed.join("b")).unwrap();
        ::image::GrayImage::from_fn(23, 31, |x, y| ::image::Luma([f(x, y)]))
            .save(mixed.join("a/0.png"))
            .unwrap();
        ::image::RgbImage::from_fn(40, 18, |x, y| ::image::Rgb([f(x, y), f(y, x), 77]))
            .save(mixed.join("a/1.jpg"))
            .unwrap();
        ::image::GrayImage::from_fn(19, 19, |x, y| ::image::Luma([f(y, x)]))
            .save(mixed.join("b/0.jpg"))
            .unwrap();
        let s = 12;
        let folder = ImageFolder::open(&mixed, Some(s), None).unwrap();
        assert_eq!((folder.len(), folder.channels, folder.labels()), (3, 3, vec![0, 0, 1]));
        let mut got = vec![0u8; 3 * folder.image_len()];
        folder.decode_into(0..3, &mut got).unwrap();
        for (k, name) in ["a/0.png", "a/1.jpg", "b/0.jpg"].iter().enumerate() {
            let path = mixed.join(name);
            let d = decode::decode(&path, &std::fs::read(&path).unwrap()).unwrap().into_rgb();
            let mut want = vec![0u8; s * s * 3];
            resize_crop(&d.pixels, d.height, d.width, 3, s, &mut want);
            assert_eq!(&got[k * s * s * 3..(k + 1) * s * s * 3], &want[..], "{name}");
        }
        // Only the gray files: a gray set, each image its file resized.
        std::fs::remove_file(mixed.join("a/1.jpg")).unwrap();
        let gray = ImageFolder::open(&mixed, Some(s), None).unwrap();
        assert_eq!(gray.channels, 1);
        let mut got = vec![0u8; 2 * gray.image_len()];
        gray.decode_into(0..2, &mut got).unwrap();
        let path = mixed.join("b/0.jpg");
        let d = decode::decode(&path, &std::fs::read(&path).unwrap()).unwrap();
        let mut want = vec![0u8; s * s];
        resize_crop(&d.pixels, d.height, d.width, 1, s, &mut want);
        assert_eq!(&got[s * s..], &want[..]);
    }

    /// With a crop only the pixels the resize reads are decoded: the images are those of decoding whole, then
    /// resizing and cropping, for JPEG photographs wider and taller than the crop (the part lies inside, away
    /// from every edge, and reaches the edges), at crops that shrink and that enlarge them, colour and gray.
    #[test]
    fn a_crop_decodes_only_what_it_reads_and_gives_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let f = |x: u32, y: u32| ((x * x / 7 + y * 13 + (x ^ y) * 5) % 256) as u8;
        let sizes = [(150, 100), (100, 150), (97, 61), (64, 64), (33, 200)];
        for (k, &(w, h)) in sizes.iter().enumerate() {
            let path = dir.path().join(format!("c/{k}.jpg"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            ::image::RgbImage::from_fn(w, h, |x, y| ::image::Rgb([f(x, y), f(y, x), f(x + 3, y * 2)]))
                .save(&path)
                .unwrap();
            let path = dir.path().join(format!("g/{k}.jpg"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            ::image::GrayImage::from_fn(w, h, |x, y| ::image::Luma([f(x, y)])).save(&path).unwrap();
        }
        for s in [24, 56, 90] {
            let folder = ImageFolder::open(dir.path(), Some(s), None).unwrap();
            let n = folder.len();
            let mut got = vec![0u8; n * folder.image_len()];
            folder.decode_into(0..n, &mut got).unwrap();
            for (k, e) in folder.entries.iter().enumerate() {
                let d = decode::decode(&e.path, &std::fs::read(&e.path).unwrap()).unwrap().into_rgb();
                let mut want = vec![0u8; s * s * 3];
                resize_crop(&d.pixels, d.height, d.width, 3, s, &mut want);
                assert_eq!(
                    &got[k * s * s * 3..(k + 1) * s * s * 3],
                    &want[..],
                    "{} at {s}",
                    e.path.display()
                );
            }
        }
    }

    /// Files of different sizes without `--crop` are refused when the folder is opened, before any decoding.
    #[test]
    fn different_sizes_without_a_crop_are_refused_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        save(&dir.path().join("c/0.png"), 10, 8);
        save(&dir.path().join("c/1.png"), 10, 9);
        let err = ImageFolder::open(dir.path(), None, None).unwrap_err().to_string();
        assert!(err.contains("1.png") && err.contains("--crop"), "{err}");
        assert_eq!(ImageFolder::open(dir.path(), Some(4), None).unwrap().image_len(), 4 * 4 * 3);
    }
}
