//! The preprocessing step of the image-classification example: images in,
//! one row of model features per image out. Inference itself is left to the
//! built-in `predict` (batches, the model check, the transactional table
//! write), so this operator only does what is specific to images.
//!
//! It reads and writes through `ctx.storage()`, so the images may be in a
//! local folder or in object storage (`s3://bucket/images/2026-03-01`),
//! with the same code.

use chime::prelude::*;

/// Parameters of `images_to_features`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageParams {
    /// A folder, or an s3:// prefix, of PNG images (8-bit or 16-bit; gray,
    /// gray+alpha, RGB, RGBA).
    pub dir: String,
    /// The CSV to write (a path or an s3:// URL): `file,px0,...,pxN`
    /// (N = size * size - 1).
    pub output: String,
    /// Images are shrunk to size x size pixels by averaging blocks (default 8).
    #[serde(default = "default_size")]
    pub size: u32,
}

fn default_size() -> u32 {
    8
}

/// Decodes every PNG of `dir` (in name order), converts it to grayscale,
/// shrinks it to `size` x `size` by averaging and scales the pixels to
/// 0-16 (dark ink is high, as in scikit-learn's digits), writing one CSV
/// row per image.
#[chime::operator]
pub fn images_to_features(ctx: &TaskContext, p: ImageParams) -> chime::Result<Output> {
    if p.size == 0 || p.size > 256 {
        return Err(format!("`size: {}`: use 1 to 256", p.size).into());
    }
    let storage = ctx.storage();
    // Sorted by name, local or in object storage.
    let files: Vec<String> = storage
        .list(&p.dir)?
        .into_iter()
        .map(|f| f.path)
        .filter(|f| f.to_ascii_lowercase().ends_with(".png"))
        .collect();
    let n = (p.size * p.size) as usize;
    let mut csv = String::from("file");
    for i in 0..n {
        csv += &format!(",px{i}");
    }
    csv.push('\n');
    for f in &files {
        let bytes = storage.get(f)?;
        let pixels = shrink(&bytes, p.size).map_err(|e| format!("{f}: {e}"))?;
        let name = f.rsplit('/').next().unwrap_or(f);
        csv += name;
        for v in pixels {
            csv += &format!(",{v:.3}");
        }
        csv.push('\n');
    }
    storage.put(&p.output, csv.as_bytes())?;
    ctx.log(format!("{} images from {} to {}", files.len(), p.dir, p.output));
    Ok(Output::json(json!({ "images": files.len(), "output": p.output })))
}

/// The PNG image `bytes` as size x size values in 0-16 (16 = black).
fn shrink(bytes: &[u8], size: u32) -> Result<Vec<f32>, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG image: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("cannot decode: {e}"))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    if w == 0 || h == 0 {
        return Err("the image is empty".into());
    }
    // Luminance of each pixel, 0 (black) to 1 (white), alpha over white.
    let gray = |x: usize, y: usize| -> f32 {
        let px = &buf[(y * w + x) * channels..][..channels];
        let v = |c: u8| f32::from(c) / 255.0;
        let (lum, alpha) = match channels {
            1 => (v(px[0]), 1.0),
            2 => (v(px[0]), v(px[1])),
            3 => (0.299 * v(px[0]) + 0.587 * v(px[1]) + 0.114 * v(px[2]), 1.0),
            _ => (0.299 * v(px[0]) + 0.587 * v(px[1]) + 0.114 * v(px[2]), v(px[3])),
        };
        lum * alpha + (1.0 - alpha)
    };
    let s = size as usize;
    let mut out = vec![0.0; s * s];
    for (cell, value) in out.iter_mut().enumerate() {
        let (cy, cx) = (cell / s, cell % s);
        let (y0, y1) = (cy * h / s, ((cy + 1) * h / s).max(cy * h / s + 1));
        let (x0, x1) = (cx * w / s, ((cx + 1) * w / s).max(cx * w / s + 1));
        let mut sum = 0.0;
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                sum += gray(x, y);
            }
        }
        let count = ((y1.min(h) - y0) * (x1.min(w) - x0)).max(1) as f32;
        // The digits set draws ink as high values: white 0, black 16.
        *value = (1.0 - sum / count) * 16.0;
    }
    Ok(out)
}
