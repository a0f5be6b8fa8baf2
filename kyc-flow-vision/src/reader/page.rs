//! Reading a photo as a page of text, wherever the document is in it: EXIF orientation, a
//! working scale that makes small text big enough for the models, text detection over the
//! whole frame (then again on the region where text was found, when it is a small part of a
//! large photo), the rotation chosen by how confidently the text reads, recognition of every
//! line, lines grouped into rows, and any ICAO 9303 machine-readable zone (TD1, TD2, TD3)
//! found among the rows and repaired by its check digits.
//!
//! Nothing here knows where a field sits on a card: fields are found by their printed labels
//! and value grammars ([`super::models`]).

use crate::ocr::{OcrEngine, OcrError, TextBox, TextLine};
use image::{DynamicImage, RgbImage, imageops::FilterType};
use kyc_flow_documents::mrz;

/// Images whose long side is below this are upscaled to it before detection and recognition
/// (web thumbnails of 300–650 px carry MRZ characters 6–10 px tall).
pub const MIN_WORK_SIDE: u32 = 1400;
/// Larger photos are downscaled to this long side (a 4000 px camera original): the card still
/// has text far above the recognizer's 48 px input when it fills a reasonable part of the frame.
pub const MAX_WORK_SIDE: u32 = 2200;
/// When all text lies in a region whose long side is below this fraction of the frame's, the
/// detector runs again on that region at full resolution.
pub const REFOCUS_FRACTION: f32 = 0.6;
/// At most this many boxes are recognized (largest first); a card has 10–60.
pub const MAX_LINES: usize = 90;

/// Decodes `bytes` within the photo limits and applies the EXIF orientation (a phone's
/// portrait shot of a card); see [`crate::photo`].
pub fn decode_oriented(bytes: &[u8]) -> Result<DynamicImage, crate::photo::PhotoError> {
    crate::photo::open(bytes, &crate::photo::PhotoLimits::DEFAULT)
}

/// One row of text: lines side by side, left to right.
#[derive(Debug, Clone)]
pub struct Row {
    /// Indices into [`Page::lines`], left to right.
    pub lines: Vec<usize>,
    /// Union box.
    pub bbox: TextBox,
}

/// What was read on a photo, in the working image's pixels.
#[derive(Clone)]
pub struct Page {
    /// The upright working image (rotated and scaled).
    pub image: RgbImage,
    /// Working pixels per original pixel.
    pub scale: f32,
    /// Clockwise rotation applied, degrees (0, 90, 180, 270).
    pub rotation: u32,
    /// Recognized lines.
    pub lines: Vec<TextLine>,
    /// Rows, top to bottom.
    pub rows: Vec<Row>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("size", &self.image.dimensions())
            .field("rotation", &self.rotation)
            .field("lines", &self.lines.len())
            .finish()
    }
}

impl Page {
    /// The text of a row (lines joined by a space).
    pub fn row_text(&self, r: &Row) -> String {
        r.lines
            .iter()
            .map(|&i| self.lines[i].text.trim())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Median height of the recognized lines in ORIGINAL pixels (the "too small" measure).
    pub fn median_text_height_px(&self) -> f32 {
        let mut h: Vec<f32> = self
            .lines
            .iter()
            .filter(|l| l.confidence > 0.6 && l.text.chars().count() >= 3)
            .map(|l| l.bbox.height() / self.scale)
            .collect();
        if h.is_empty() {
            return 0.0;
        }
        h.sort_by(f32::total_cmp);
        h[h.len() / 2]
    }

    /// The union of the confidently read lines (working pixels): where the document is.
    pub fn text_region(&self) -> Option<TextBox> {
        union(
            self.lines
                .iter()
                .filter(|l| l.confidence > 0.6)
                .map(|l| l.bbox),
        )
    }
}

fn union(boxes: impl Iterator<Item = TextBox>) -> Option<TextBox> {
    boxes.reduce(|a, b| TextBox {
        x0: a.x0.min(b.x0),
        y0: a.y0.min(b.y0),
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
        score: a.score.max(b.score),
    })
}

/// Scales an upright image into the working range.
pub fn working_image(img: &DynamicImage) -> (RgbImage, f32) {
    let rgb = img.to_rgb8();
    let long = rgb.width().max(rgb.height()).max(1);
    let target = if long < MIN_WORK_SIDE {
        MIN_WORK_SIDE
    } else if long > MAX_WORK_SIDE {
        MAX_WORK_SIDE
    } else {
        return (rgb, 1.0);
    };
    let s = target as f32 / long as f32;
    let (w, h) = (
        ((rgb.width() as f32 * s).round() as u32).max(1),
        ((rgb.height() as f32 * s).round() as u32).max(1),
    );
    let filter = if s > 1.0 {
        FilterType::CatmullRom
    } else {
        FilterType::Triangle
    };
    (image::imageops::resize(&rgb, w, h, filter), s)
}

fn rotate(img: &RgbImage, deg: u32) -> RgbImage {
    match deg {
        90 => image::imageops::rotate90(img),
        180 => image::imageops::rotate180(img),
        270 => image::imageops::rotate270(img),
        _ => img.clone(),
    }
}

/// Maps a box on an image `w`×`h` to the same box after rotating the image clockwise by `deg`.
pub fn rotate_box(b: &TextBox, w: f32, h: f32, deg: u32) -> TextBox {
    let (x0, y0, x1, y1) = match deg {
        90 => (h - b.y1, b.x0, h - b.y0, b.x1),
        180 => (w - b.x1, h - b.y1, w - b.x0, h - b.y0),
        270 => (b.y0, w - b.x1, b.y1, w - b.x0),
        _ => (b.x0, b.y0, b.x1, b.y1),
    };
    TextBox {
        x0,
        y0,
        x1,
        y1,
        score: b.score,
    }
}

/// Recognizes one box, upscaling small text with a sharper filter than the recognizer's own.
pub fn recognize(ocr: &OcrEngine, img: &RgbImage, b: &TextBox) -> Result<TextLine, OcrError> {
    let x0 = b.x0.floor().max(0.0) as u32;
    let y0 = b.y0.floor().max(0.0) as u32;
    let x1 = (b.x1.ceil().max(0.0) as u32).min(img.width());
    let y1 = (b.y1.ceil().max(0.0) as u32).min(img.height());
    let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let mut crop = image::imageops::crop_imm(
        img,
        x0.min(img.width() - 1),
        y0.min(img.height() - 1),
        cw,
        ch,
    )
    .to_image();
    if ch < crate::ocr::REC_HEIGHT {
        let s = crate::ocr::REC_HEIGHT as f32 / ch as f32;
        crop = image::imageops::resize(
            &crop,
            ((cw as f32 * s).round() as u32).max(1),
            crate::ocr::REC_HEIGHT,
            FilterType::CatmullRom,
        );
    }
    let (text, char_confidences) = ocr.recognize_crop(&crop)?;
    Ok(TextLine::new(*b, text, char_confidences))
}

/// How well a set of lines reads: confident characters count, garbage does not.
fn read_score(lines: &[TextLine]) -> f32 {
    lines
        .iter()
        .map(|l| {
            let n = l
                .text
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '<')
                .count() as f32;
            n * l.confidence * l.confidence
        })
        .sum()
}

/// Reads a decoded, EXIF-oriented photo.
pub fn read_page(ocr: &OcrEngine, img: &DynamicImage) -> Result<Page, OcrError> {
    let (work, scale) = working_image(img);
    let mut boxes = ocr.detect(&work)?;
    // Text in a small part of a large frame: detect again on that region at full resolution.
    let (ww, wh) = (work.width() as f32, work.height() as f32);
    if let Some(region) = union(boxes.iter().filter(|b| b.score > 0.6).copied()) {
        let (rw, rh) = (region.x1 - region.x0, region.y1 - region.y0);
        if rw.max(rh) < REFOCUS_FRACTION * ww.max(wh)
            && ww.max(wh) > crate::ocr::DET_LONG_SIDE as f32
        {
            let m = 0.08 * rw.max(rh);
            let x0 = (region.x0 - m).max(0.0) as u32;
            let y0 = (region.y0 - m).max(0.0) as u32;
            let x1 = ((region.x1 + m) as u32).min(work.width());
            let y1 = ((region.y1 + m) as u32).min(work.height());
            if x1 > x0 + 32 && y1 > y0 + 32 {
                let crop = image::imageops::crop_imm(&work, x0, y0, x1 - x0, y1 - y0).to_image();
                let inner = ocr.detect(&crop)?;
                if inner.len() >= boxes.len() / 2 {
                    boxes = inner
                        .into_iter()
                        .map(|b| TextBox {
                            x0: b.x0 + x0 as f32,
                            y0: b.y0 + y0 as f32,
                            x1: b.x1 + x0 as f32,
                            y1: b.y1 + y0 as f32,
                            score: b.score,
                        })
                        .collect();
                }
            }
        }
    }
    separate_lines(&mut boxes);
    // Sideways text gives tall boxes; upright or upside-down text gives wide ones.
    let tall = boxes
        .iter()
        .filter(|b| b.height() > 2.0 * (b.x1 - b.x0))
        .count();
    let wide = boxes
        .iter()
        .filter(|b| (b.x1 - b.x0) > 2.0 * b.height())
        .count();
    let candidates: &[u32] = if tall > wide { &[90, 270] } else { &[0, 180] };
    // Judge the rotation on the widest boxes only (recognition is the expensive step).
    let mut probe: Vec<TextBox> = boxes.clone();
    probe.sort_by(|a, b| {
        let wa = (a.x1 - a.x0).max(a.height());
        let wb = (b.x1 - b.x0).max(b.height());
        wb.total_cmp(&wa)
    });
    probe.truncate(6);
    let mut best: Option<(u32, f32, Vec<TextLine>)> = None;
    for &deg in candidates {
        let img_r = rotate(&work, deg);
        let lines: Vec<TextLine> = probe
            .iter()
            .map(|b| recognize(ocr, &img_r, &rotate_box(b, ww, wh, deg)))
            .collect::<Result<_, _>>()?;
        let s = read_score(&lines);
        let conf = lines.iter().map(|l| l.confidence).sum::<f32>() / lines.len().max(1) as f32;
        if best.as_ref().is_none_or(|(_, bs, _)| s > *bs) {
            best = Some((deg, s, lines));
        }
        // Upright text read confidently: no need to try upside down.
        if deg == 0 && conf > 0.9 {
            break;
        }
    }
    let rotation = best.as_ref().map_or(0, |b| b.0);
    let probed: Vec<TextLine> = best.map(|b| b.2).unwrap_or_default();
    let image = rotate(&work, rotation);
    let mut rboxes: Vec<TextBox> = boxes
        .iter()
        .map(|b| rotate_box(b, ww, wh, rotation))
        .collect();
    rboxes.sort_by(|a, b| {
        let area = |t: &TextBox| (t.x1 - t.x0) * t.height();
        area(b).total_cmp(&area(a))
    });
    rboxes.truncate(MAX_LINES);
    let mut lines = Vec::with_capacity(rboxes.len());
    for b in &rboxes {
        // The rotation probe already read the widest boxes.
        let l = match probed.iter().find(|l| l.bbox == *b) {
            Some(l) => l.clone(),
            None => recognize(ocr, &image, b)?,
        };
        if !l.text.trim().is_empty() {
            lines.push(l);
        }
    }
    let rows = group_rows(&lines);
    Ok(Page {
        image,
        scale,
        rotation,
        lines,
        rows,
    })
}

/// The detector's boxes are grown around each text kernel; on tightly spaced lines (an MRZ)
/// they grow into their neighbours and the recognizer then sees two lines. Boxes stacked over
/// each other are cut at the middle of their overlap. Only horizontal text is adjusted.
pub fn separate_lines(boxes: &mut [TextBox]) {
    let n = boxes.len();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let (a, b) = (boxes[i], boxes[j]);
            if a.center().1 >= b.center().1 {
                continue;
            }
            let wide = |t: &TextBox| t.x1 - t.x0 > t.height();
            let xo = a.x1.min(b.x1) - a.x0.max(b.x0);
            let yo = a.y1 - b.y0;
            if wide(&a) && wide(&b) && xo > 0.3 * (a.x1 - a.x0).min(b.x1 - b.x0) && yo > 0.0 {
                let mid = (a.y1 + b.y0) / 2.0;
                // Never cut past a box's own centre.
                boxes[i].y1 = mid.max(a.center().1 + 0.25 * a.height());
                boxes[j].y0 = mid.min(b.center().1 - 0.25 * b.height());
            }
        }
    }
}

/// Groups lines into rows: vertical overlap of at least half the smaller height, similar
/// heights. Rows top to bottom, lines left to right.
pub fn group_rows(lines: &[TextLine]) -> Vec<Row> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| {
        lines[a]
            .bbox
            .center()
            .1
            .total_cmp(&lines[b].bbox.center().1)
    });
    let mut rows: Vec<Row> = Vec::new();
    for i in order {
        let b = lines[i].bbox;
        let found = rows.iter_mut().find(|r| {
            let ov = b.y1.min(r.bbox.y1) - b.y0.max(r.bbox.y0);
            let hmin = b.height().min(r.bbox.height());
            let hmax = b.height().max(r.bbox.height());
            ov > 0.5 * hmin && hmax < 1.8 * hmin
        });
        match found {
            Some(r) => {
                r.lines.push(i);
                r.bbox = union([r.bbox, b].into_iter()).unwrap_or(b);
            }
            None => rows.push(Row {
                lines: vec![i],
                bbox: b,
            }),
        }
    }
    for r in &mut rows {
        r.lines
            .sort_by(|&a, &b| lines[a].bbox.x0.total_cmp(&lines[b].bbox.x0));
    }
    rows.sort_by(|a, b| a.bbox.center().1.total_cmp(&b.bbox.center().1));
    rows
}

// ---------------------------------------------------------------------------------------------
// MRZ anywhere
// ---------------------------------------------------------------------------------------------

/// An MRZ candidate row: its characters and where it is.
#[derive(Debug, Clone)]
struct MrzRow {
    text: String,
    bbox: TextBox,
}

/// Maps what the recognizer returns for MRZ characters to the MRZ alphabet; `None` for a
/// character that cannot be part of an MRZ.
fn mrz_char(c: char) -> Option<char> {
    let c = super::mrz_chars(&c.to_string()).chars().next()?;
    match c {
        'A'..='Z' | '0'..='9' | '<' => Some(c),
        // Fillers read as brackets or a small c/k at low resolution.
        '(' | '[' | '{' | '‹' | '«' | '≤' => Some('<'),
        _ => None,
    }
}

/// The row's lines concatenated as MRZ text; a gap between two boxes is filled with as many
/// `<` as characters would fit in it (the detector splits long filler runs).
fn mrz_row_text(page: &Page, row: &Row) -> Option<String> {
    let mut out = String::new();
    let mut prev_x1: Option<f32> = None;
    let mut char_w = 0.0f32;
    for &i in &row.lines {
        let l = &page.lines[i];
        let t: String = l.text.chars().filter(|c| !c.is_whitespace()).collect();
        let mapped: Vec<char> = t.chars().filter_map(mrz_char).collect();
        let n = t.chars().count().max(1);
        if mapped.len() * 10 < n * 8 {
            // Mostly not MRZ: a caption beside the zone.
            continue;
        }
        let w = (l.bbox.x1 - l.bbox.x0) / n as f32;
        if let Some(px) = prev_x1
            && char_w > 0.0
        {
            let gap = ((l.bbox.x0 - px) / char_w).round();
            if (1.0..40.0).contains(&gap) {
                for _ in 0..gap as usize {
                    out.push('<');
                }
            }
        }
        char_w = if char_w > 0.0 { (char_w + w) / 2.0 } else { w };
        prev_x1 = Some(l.bbox.x1);
        out.extend(mapped);
    }
    let n = out.chars().count();
    ((26..=50).contains(&n) && (out.contains('<') || n >= 28)).then_some(out)
}

/// Adjusts an OCR'd MRZ line to `n` characters: extra characters come out of the longest
/// filler run (the recognizer duplicates `<`), missing ones go into it (it drops some), and
/// only then at the end.
pub fn fit_line(s: &str, n: usize) -> String {
    let mut v: Vec<char> = s.chars().collect();
    let longest_run = |v: &[char]| -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        let mut i = 0;
        while i < v.len() {
            if v[i] == '<' {
                let st = i;
                while i < v.len() && v[i] == '<' {
                    i += 1;
                }
                if best.is_none_or(|(_, l)| i - st > l) {
                    best = Some((st, i - st));
                }
            } else {
                i += 1;
            }
        }
        best
    };
    while v.len() > n {
        match longest_run(&v) {
            Some((st, l)) if l >= 2 => {
                v.remove(st);
            }
            _ => {
                v.truncate(n);
            }
        }
    }
    while v.len() < n {
        match longest_run(&v) {
            Some((st, l)) if l >= 2 => v.insert(st, '<'),
            _ => v.push('<'),
        }
    }
    v.into_iter().collect()
}

fn letters_only(s: &str, from: usize) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i >= from {
                super::digit_to_letter(c)
            } else {
                c
            }
        })
        .collect()
}

/// Letters-only positions of a format's lines (issuing state, nationality, sex), as
/// (line, start, end).
fn letter_spans(format: mrz::MrzFormat) -> &'static [(usize, usize, usize)] {
    match format {
        mrz::MrzFormat::Td1 => &[(0, 0, 1), (0, 2, 5), (1, 7, 8), (1, 15, 18)],
        _ => &[(0, 0, 1), (0, 2, 5), (1, 10, 13), (1, 20, 21)],
    }
}

/// Tries one block of rows as an MRZ of `format`.
fn try_block(rows: &[&MrzRow], format: mrz::MrzFormat) -> Option<mrz::Mrz> {
    let (count, len) = format.shape();
    if rows.len() != count {
        return None;
    }
    // Every MRZ line has fillers; a block of ordinary text rows does not.
    if rows.iter().any(|r| !r.text.contains('<')) {
        return None;
    }
    let left = rows.iter().map(|r| r.bbox.x0).fold(f32::MAX, f32::min);
    let mut lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut t = r.text.clone();
            // The first line starts with the document code; a line that starts a character
            // or more to the right of the others lost it to the detector (a thin `I`).
            let char_w = (r.bbox.x1 - r.bbox.x0) / r.text.chars().count().max(1) as f32;
            if i == 0 && t.chars().count() < len && r.bbox.x0 - left > 0.6 * char_w {
                t.insert(0, 'I');
            }
            fit_line(&t, len)
        })
        .collect();
    // Name fields carry no check digit: a digit there is a letter misread.
    match format {
        mrz::MrzFormat::Td1 => lines[2] = letters_only(&lines[2], 0),
        _ => lines[0] = letters_only(&lines[0], 5),
    }
    for &(li, a, b) in letter_spans(format) {
        lines[li] = lines[li]
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (a..b).contains(&i) {
                    super::digit_to_letter(c)
                } else {
                    c
                }
            })
            .collect();
    }
    let first = mrz::parse(&lines.join("\n")).ok()?;
    if first.checks.document_number || !first.checks.composite && first.valid() {
        return Some(first);
    }
    // The document number is alphanumeric: the parser repairs letters read for digits, not
    // digits read for letters. Try those, one or two at a time; keep a reading only when the
    // number's check digit AND the composite check then pass.
    let (nl, ns, ne) = match format {
        mrz::MrzFormat::Td1 => (0, 5, 14),
        _ => (1, 0, 9),
    };
    let chars: Vec<char> = lines[nl].chars().collect();
    let alts = |c: char| -> &'static [char] {
        match c {
            '0' => &['O', 'D', 'Q'],
            '1' => &['I'],
            '2' => &['Z'],
            '5' => &['S'],
            '8' => &['B'],
            '6' => &['G'],
            _ => &[],
        }
    };
    let positions: Vec<usize> = (ns..ne).filter(|&i| !alts(chars[i]).is_empty()).collect();
    let try_with = |subs: &[(usize, char)]| -> Option<mrz::Mrz> {
        let mut c = chars.clone();
        for &(i, ch) in subs {
            c[i] = ch;
        }
        let mut l = lines.clone();
        l[nl] = c.into_iter().collect();
        mrz::parse(&l.join("\n"))
            .ok()
            .filter(|m| m.checks.document_number && m.checks.composite)
    };
    for (k, &i) in positions.iter().enumerate() {
        for &a in alts(chars[i]) {
            if let Some(m) = try_with(&[(i, a)]) {
                return Some(m);
            }
            for &j in &positions[k + 1..] {
                for &b in alts(chars[j]) {
                    if let Some(m) = try_with(&[(i, a), (j, b)]) {
                        return Some(m);
                    }
                }
            }
        }
    }
    Some(first)
}

fn mrz_score(m: &mrz::Mrz) -> usize {
    let c = &m.checks;
    let passed = [c.document_number, c.birth_date, c.expiry_date, c.composite]
        .iter()
        .filter(|&&b| b)
        .count()
        + usize::from(c.optional_data.unwrap_or(true));
    // Fewer repairs: a closer reading.
    passed * 10 + usize::from(m.valid()) * 100 - m.repairs.len().min(9)
}

/// Finds and parses the best MRZ among the page's rows (any format, any issuer).
pub fn find_mrz(page: &Page) -> Option<mrz::Mrz> {
    let cands: Vec<MrzRow> = page
        .rows
        .iter()
        .filter_map(|r| mrz_row_text(page, r).map(|text| MrzRow { text, bbox: r.bbox }))
        .collect();
    let mut best: Option<(usize, mrz::Mrz)> = None;
    for start in 0..cands.len() {
        for format in [
            mrz::MrzFormat::Td1,
            mrz::MrzFormat::Td2,
            mrz::MrzFormat::Td3,
        ] {
            let (count, len) = format.shape();
            if start + count > cands.len() {
                continue;
            }
            let block: Vec<&MrzRow> = cands[start..start + count].iter().collect();
            // Consecutive rows, close together, roughly the nominal length.
            let h = block[0].bbox.height().max(1.0);
            let close = block
                .windows(2)
                .all(|w| w[1].bbox.y0 - w[0].bbox.y1 < 2.5 * h);
            let lens_ok = block.iter().all(|r| {
                let n = r.text.chars().count() as i64;
                (n - len as i64).abs() <= 5
            });
            if !close || !lens_ok {
                continue;
            }
            if let Some(m) = try_block(&block, format) {
                let c = &m.checks;
                let passed = [c.document_number, c.birth_date, c.expiry_date, c.composite]
                    .iter()
                    .filter(|&&b| b)
                    .count();
                if passed < 2 {
                    continue;
                }
                let s = mrz_score(&m);
                if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                    best = Some((s, m));
                }
            }
        }
    }
    best.map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_boxes_are_separated() {
        let mk = |y0: f32, y1: f32| TextBox {
            x0: 0.0,
            y0,
            x1: 500.0,
            y1,
            score: 1.0,
        };
        // Three MRZ lines 60 px apart whose boxes are 100 px tall.
        let mut b = vec![mk(0.0, 100.0), mk(60.0, 160.0), mk(120.0, 220.0)];
        separate_lines(&mut b);
        assert_eq!(b[0].y1, 80.0);
        assert_eq!(b[1].y0, 80.0);
        assert_eq!(b[1].y1, 140.0);
        assert_eq!(b[2].y0, 140.0);
    }

    #[test]
    fn fit_line_moves_fillers_in_the_longest_run() {
        assert_eq!(fit_line("AB<<<C", 5), "AB<<C");
        assert_eq!(fit_line("AB<<C", 6), "AB<<<C");
        assert_eq!(fit_line("ABC", 5), "ABC<<");
        assert_eq!(fit_line("ABCDEFG", 5), "ABCDE");
    }

    #[test]
    fn rotated_boxes_stay_inside_the_rotated_image() {
        let b = TextBox {
            x0: 10.0,
            y0: 20.0,
            x1: 50.0,
            y1: 30.0,
            score: 1.0,
        };
        for deg in [0, 90, 180, 270] {
            let r = rotate_box(&b, 100.0, 60.0, deg);
            let (w, h) = if deg % 180 == 0 {
                (100.0, 60.0)
            } else {
                (60.0, 100.0)
            };
            assert!(
                r.x0 >= 0.0 && r.x1 <= w && r.y0 >= 0.0 && r.y1 <= h,
                "{deg}: {r:?}"
            );
            assert!((r.x1 - r.x0) * (r.y1 - r.y0) == 400.0);
        }
        // 180 twice is the identity.
        let back = rotate_box(&rotate_box(&b, 100.0, 60.0, 180), 100.0, 60.0, 180);
        assert_eq!(back, b);
    }
}
