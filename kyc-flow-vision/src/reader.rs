//! The local document reader: quality gate, barcodes, OCR, per-template extraction, OCR
//! repair by field grammars, and the document crate's cross-checks, behind the core's
//! [`DocumentReader`] port; plus [`inspect_image`], the library entry of `kyc-flow inspect image`.
//!
//! Pipeline for one photo of one side: decode → [`quality::assess`] (a failure is a retake
//! with its specific reason) → rectify the card quad to 1200×757 → barcodes the template
//! expects (PDF417 or QR, with angle retries) → text detection on the rectified card →
//! recognition of only the boxes that fall in a field or the MRZ band (the titles and labels
//! are skipped: recognition is the expensive step) → each field's text repaired by its grammar
//! → MRZ parsed (and repaired by its check digits) and the barcode payload parsed, both by
//! `kyc-flow-documents` → that crate's `template::cross_check` chooses each value and runs the
//! cross-checks (CURP vs birth date and sex, MRZ vs printed, barcode vs printed, check digits).

pub mod models;
pub mod page;

use crate::assets::AssetPaths;
use crate::barcode::{self, DecodedBarcode, Symbology};
use crate::ocr::{OcrEngine, OcrError, TextLine};
use crate::onnx::{ModelOptions, OnnxError};
use crate::quality::{self, QualityReport};
use async_trait::async_trait;
use image::DynamicImage;
use kyc_flow_core::evidence::{
    CrossCheck, DocumentData, DocumentKind, DocumentOutcome, ExtractedField, FieldSource,
    RetakeReason, Side,
};
use kyc_flow_core::ports::{
    DocumentImage, DocumentReader, DocumentReading, PortError, PortErrorKind, PortResult,
    VisionCapabilities,
};
use kyc_flow_documents::{Date, mrz, payload, template};
use models::Grammar;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Reader errors (engine failures; a bad photo is never an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// Models could not be loaded or run.
    #[error(transparent)]
    Ocr(#[from] OcrError),
    /// No template for this document side (permanent).
    #[error("no template for {0:?} {1:?}")]
    Unsupported(DocumentKind, Side),
}

impl ReaderError {
    /// Whether a retry can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Ocr(e) => e.is_retryable(),
            Self::Unsupported(..) => false,
        }
    }
}

impl From<ReaderError> for PortError {
    fn from(e: ReaderError) -> Self {
        let kind = match &e {
            ReaderError::Unsupported(..) => PortErrorKind::Unsupported,
            ReaderError::Ocr(OcrError::Onnx(OnnxError::Asset(_))) => PortErrorKind::Unsupported,
            _ if e.is_retryable() => PortErrorKind::Unavailable,
            _ => PortErrorKind::Internal,
        };
        PortError::new(kind, e.to_string())
    }
}

/// Milliseconds spent per stage (for the bench and `inspect image`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Decode + quality gate.
    pub quality_ms: f64,
    /// Turning a skewed photo level, or rectifying one in perspective.
    pub rectify_ms: f64,
    /// Barcode decoding.
    pub barcode_ms: f64,
    /// Working image and text detection (every pass).
    pub detect_ms: f64,
    /// Text recognition (the rotation probe included).
    pub recognize_ms: f64,
    /// MRZ search, document model, extraction and cross-checks.
    pub extract_ms: f64,
}

/// Everything the reader found on one photo. Holds PII: `Debug` shows only shapes.
#[derive(Clone)]
pub struct Analysis {
    /// Which template.
    pub document: DocumentKind,
    /// Which side (the one asked for, or the one detected).
    pub side: Side,
    /// The side the photo shows, `None` when both sides are in one image.
    pub side_detected: Option<Side>,
    /// The document model recognised (`mx-ine`, `co-cedula-digital`, `passport`, …).
    pub model: Option<&'static str>,
    /// Clockwise rotation applied to read the text (degrees).
    pub rotation: u32,
    /// Median height of the text in the photo's pixels.
    pub text_height_px: f32,
    /// The quality verdict.
    pub quality: QualityReport,
    /// Decoded barcodes.
    pub barcodes: Vec<DecodedBarcode>,
    /// The parsed MRZ.
    pub mrz: Option<mrz::Mrz>,
    /// The parsed barcode payload.
    pub payload: Option<payload::PayloadFields>,
    /// Extracted fields by canonical name.
    pub fields: BTreeMap<String, ExtractedField>,
    /// Cross-check results.
    pub checks: Vec<CrossCheck>,
    /// The outcome for the core.
    pub outcome: DocumentOutcome,
    /// The card portrait (JPEG) when the side has one.
    pub portrait: Option<Vec<u8>>,
    /// Recognized lines that fed the fields.
    pub lines: Vec<TextLine>,
    /// Stage timings.
    pub timings: Timings,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis")
            .field("document", &self.document)
            .field("side", &self.side)
            .field("model", &self.model)
            .field("quality_ok", &self.quality.ok)
            .field("barcodes", &self.barcodes.len())
            .field("mrz", &self.mrz.is_some())
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

/// How wide (as a fraction of the photo's short side) a face must be for a photo with no
/// document in it to count as a selfie. A card's portrait is at most about a sixth of the
/// photo's short side even when the card fills the frame; a selfie's face is a quarter to a
/// half of it.
pub const SELFIE_FACE_FRACTION: f32 = 0.2;

/// The local engine behind [`DocumentReader`]. Cheap to clone (shares the models).
#[derive(Debug, Clone)]
pub struct LocalDocumentReader {
    ocr: Arc<OcrEngine>,
    /// The face detector, to cut the card portrait wherever it is (optional: without the face
    /// models the reader still reads, and reports no portrait).
    faces: Option<Arc<crate::face::FaceEngine>>,
    today: Option<Date>,
    /// Decode every barcode the model carries even when it adds no field (inspection and
    /// evaluation report what is printed; the runtime only needs what it reads).
    every_barcode: bool,
}

impl LocalDocumentReader {
    /// Loads the OCR models from `assets` (one inference thread: workers scale by process).
    pub fn load(assets: &AssetPaths) -> Result<Self, ReaderError> {
        Ok(Self {
            ocr: Arc::new(OcrEngine::load(assets, &ModelOptions::default())?),
            faces: crate::face::FaceEngine::load(assets, crate::face::FaceConfig::default())
                .ok()
                .map(Arc::new),
            today: None,
            every_barcode: false,
        })
    }

    /// Loads from the discovered assets directory.
    pub fn from_default_assets() -> Result<Self, ReaderError> {
        let assets =
            AssetPaths::discover().map_err(|e| ReaderError::Ocr(OcrError::Onnx(e.into())))?;
        Self::load(&assets)
    }

    /// Fixes "today" for expiry checks (tests, replays). By default the system clock is read.
    pub fn with_today(mut self, today: Date) -> Self {
        self.today = Some(today);
        self
    }

    /// Decodes the model's barcode on every photo, also when a valid MRZ already identified
    /// a document whose barcode gives no field (the INE's and the digital cédula's QR): what
    /// `inspect image` and the evaluation report. By default the runtime skips that search.
    pub fn with_every_barcode(mut self) -> Self {
        self.every_barcode = true;
        self
    }

    fn today(&self) -> Date {
        self.today.unwrap_or_else(system_today)
    }

    /// Runs the whole pipeline on one photo for a flow that asks for `document`'s `side`. A bad
    /// photo gives an `Ok` with a retake outcome; a readable photo of another document or of
    /// the other side is a `wrong_document` / `wrong_side` retake.
    pub fn analyse(
        &self,
        bytes: &[u8],
        document: DocumentKind,
        side: Side,
    ) -> Result<Analysis, ReaderError> {
        if models::for_document(document).is_none() {
            return Err(ReaderError::Unsupported(document, side));
        }
        let mut a = self.read_photo(bytes)?;
        if matches!(a.outcome, DocumentOutcome::Accepted { .. }) {
            let same_family = |x: DocumentKind| match x {
                DocumentKind::CoCedula | DocumentKind::CoCedulaDigital => DocumentKind::CoCedula,
                k => k,
            };
            if same_family(a.document) != same_family(document) {
                a.outcome = DocumentOutcome::Retake {
                    reason: RetakeReason::WrongDocument,
                    detail: format!(
                        "expected {}, read {}",
                        document.as_str(),
                        a.model.unwrap_or("an unknown document")
                    ),
                };
            } else if let Some(s) = a.side_detected
                && s != side
            {
                a.outcome = DocumentOutcome::Retake {
                    reason: RetakeReason::WrongSide,
                    detail: format!("expected the {} side", side.as_str()),
                };
            }
        }
        a.side = side;
        Ok(a)
    }

    /// Reads one photo without being told what it shows: finds the text, the MRZ and the
    /// barcode, recognises the document model, extracts its fields by labels and grammars,
    /// cross-checks them and decides. The quality gate fails open: a retake is asked only when
    /// extraction failed, naming the defect measured on the text (or `unreadable`).
    pub fn read_photo(&self, bytes: &[u8]) -> Result<Analysis, ReaderError> {
        let mut timings = Timings::default();
        let t = Instant::now();
        let img = match page::decode_oriented(bytes)
            .map_err(quality::QualityError::from)
            .and_then(|i| {
                if i.width() < 32 || i.height() < 32 {
                    Err(quality::QualityError::Degenerate(i.width(), i.height()))
                } else {
                    Ok(i)
                }
            }) {
            Ok(i) => i,
            Err(e) => {
                let outcome = DocumentOutcome::Retake {
                    reason: RetakeReason::UnsupportedMedia,
                    detail: e.to_string(),
                };
                return Ok(empty_analysis(
                    DocumentKind::MxIne,
                    Side::Front,
                    None,
                    outcome,
                    timings,
                ));
            }
        };
        let mut report = quality::assess(&img);
        timings.quality_ms = ms(t);

        // The card outline is only a hint: the page reader detects text on the card alone
        // when it is small in the frame (falling back to the whole frame when that text runs
        // into the crop's edge) and rectifies a photo in perspective through it (kept only if
        // the text then comes out level).
        let card = report.metrics.card_found.then_some(&report.quad);
        // A valid MRZ of a model that prints nothing else to read (a passport, another
        // issuer's ID card) answers the photo: the rest of the page is not recognised.
        let mrz_answers = |p: &page::Page| {
            page::find_mrz(p).is_some_and(|m| {
                m.valid()
                    && models::detect(p, Some(&m))
                        .is_some_and(|md| md.labels.is_empty() && md.barcode.is_none())
            })
        };
        let mut page = page::read_page_until(&self.ocr, &img, card, &mrz_answers)?;
        timings.detect_ms = page.timings.detect_ms;
        timings.rectify_ms = page.timings.warp_ms;
        timings.recognize_ms = page.timings.recognize_ms;

        let t = Instant::now();
        let mut mrz = page::find_mrz_rereading(&self.ocr, &mut page)?;
        let mut model = models::detect(&page, mrz.as_ref());
        // Nothing recognised on a page with text to read: the rotation may be wrong (upside-down
        // text read confidently enough to be chosen, or a sideways card whose lines the
        // detector cut into short boxes, so that it did not look sideways). The photo itself
        // is turned and read again, upright as given, at the other three quarter turns; the
        // first reading that shows a document is kept. Only photos that would otherwise be
        // sent back pay for it.
        // Text at two angles (a card beside a sheet of paper, each askew): the page was
        // levelled by the lines that carry most of the text, which may be the paper's; the
        // photo is read again levelled by the others' before any quarter turn is tried.
        // The same when a model was recognised but neither a valid zone nor its key
        // identifier was read: the card's title can read through a slant that garbles its
        // small print (a `D.N.I.` read `DNL`). The levelled reading replaces the first only
        // when it answers better (a valid zone, or a model with its key identifier).
        if let Some(angle) = page.other_direction
            && !answers(&page, model, mrz.as_ref())
        {
            let mut levelled = page::read_page_levelled(&self.ocr, &img, angle, &mrz_answers)?;
            let z = page::find_mrz_rereading(&self.ocr, &mut levelled)?;
            timings.detect_ms += levelled.timings.detect_ms;
            timings.recognize_ms += levelled.timings.recognize_ms;
            let m = models::detect(&levelled, z.as_ref());
            let better = if model.is_none() && mrz.is_none() {
                m.is_some()
            } else {
                answers(&levelled, m, z.as_ref())
            };
            if better {
                model = m;
                mrz = z;
                page = levelled;
            }
        }
        if model.is_none() && mrz.is_none() && page.lines.len() >= MIN_LINES_TO_TURN {
            for extra in [180u32, 90, 270] {
                let turned_img = match extra {
                    90 => img.rotate90(),
                    180 => img.rotate180(),
                    _ => img.rotate270(),
                };
                let mut turned =
                    page::read_page_turned(&self.ocr, &turned_img, None, &mrz_answers, Some(0))?;
                let z = page::find_mrz_rereading(&self.ocr, &mut turned)?;
                timings.detect_ms += turned.timings.detect_ms;
                timings.recognize_ms += turned.timings.recognize_ms;
                if let Some(m) = models::detect(&turned, z.as_ref()) {
                    turned.rotation = extra;
                    model = Some(m);
                    mrz = z;
                    page = turned;
                    break;
                }
            }
        }
        // Text beside the document (a receipt, a sheet of paper in view) is dropped before its
        // fields are looked for, when the document is still recognised without it.
        let (page, mut readings) = document_readings(page, model, mrz.as_ref());
        let extract_ms = ms(t);

        // Barcodes the model carries; a PDF417 is also looked for when nothing was recognised
        // (the back of a yellow cédula has little text).
        let t = Instant::now();
        let expected: Vec<Symbology> = match model {
            // The barcode is on the back: a page of front fields has none to look for.
            Some(_) if front_names(&readings) && mrz.is_none() => vec![],
            // A valid MRZ already identified the document and the barcode gives no field:
            // searching for it only costs time (up to half a second on a 1600 px photo).
            Some(m)
                if !self.every_barcode
                    && mrz.as_ref().is_some_and(|z| z.valid())
                    && !m.reads_fields_from_barcode() =>
            {
                vec![]
            }
            Some(m) => m.barcode.into_iter().collect(),
            None if mrz.is_none() => vec![Symbology::Pdf417],
            None => vec![],
        };
        let mut barcodes = Vec::new();
        if !expected.is_empty() {
            // The page straight first (it usually reads, and costs nothing more); then the
            // photo's own pixels (turned upright by the page's quarter turns, which cost no
            // resampling): a levelled or rectified page has been resampled once more, which
            // blurs modules of 1.5–3 px past reading. The page is the last view, for the angle
            // retries (it is level).
            let gray = DynamicImage::ImageRgb8(page.image.clone()).to_luma8();
            barcodes = barcode::decode_straight(&gray, &expected);
            if barcodes.len() < expected.len() {
                let (work, _) = page::working_image(&img);
                let photo = DynamicImage::ImageRgb8(page::rotate(&work, page.rotation)).to_luma8();
                barcodes = barcode::decode_views(&[&photo, &gray], &expected);
            }
        }
        let payload = barcodes
            .iter()
            .find(|b| b.symbology == Symbology::Pdf417)
            .and_then(|b| {
                payload::co_cedula_pdf417(&b.bytes)
                    .ok()
                    .map(|p| (DocumentKind::CoCedula, p))
                    .or_else(|| {
                        payload::ar_dni_pdf417(&b.bytes)
                            .ok()
                            .map(|p| (DocumentKind::ArDni, p))
                    })
            });
        if model.is_none()
            && let Some((d, _)) = &payload
        {
            model = models::for_document(*d);
        }
        let payload = payload.map(|(_, p)| p);
        timings.barcode_ms = ms(t);

        if readings.is_empty()
            && let Some(m) = model
        {
            readings = models::extract(&page, m);
        }
        let t = Instant::now();
        let side_detected = model.and_then(|m| {
            models::side_of(m, front_names(&readings), mrz.is_some(), payload.is_some())
        });
        let document = model
            .and_then(|m| m.document)
            .unwrap_or(DocumentKind::Passport);
        let (fields, checks, problem) =
            self.assemble(model, &readings, mrz.as_ref(), payload.as_ref());

        // The portrait: the largest face on the page, when the side shows one.
        let shows_face = side_detected != Some(Side::Back);
        let portrait = if shows_face && model.is_some() {
            self.portrait(&page.image)
        } else {
            None
        };

        // Fail open: decide by what was read; a measured defect only explains a failure.
        // Where the document is: around the lines that show its model (titles, labels, the
        // machine-readable zone), with a margin for its values.
        let document_region = model.and_then(|m| document_region(&page, m));
        let defects = text_quality(&page, &report, document_region.as_ref(), mrz.is_none());
        report.ok = defects.is_empty();
        report.issues = defects;
        // Blur, darkness or glare measured: a card's portrait in a blurred card photo is as
        // large as a selfie's face in the frame, and the defect is what the user must fix
        // either way — so a face is taken for a selfie only in a photo with none of them.
        // So is text measured too small to read on a page with lines to read: a passport
        // page's portrait is 0.4 of its short side, a selfie's face in a 200 px thumbnail of it.
        let too_small = report
            .issues
            .iter()
            .any(|i| i.reason == RetakeReason::TooSmall);
        let degraded = report.issues.iter().any(|i| {
            matches!(
                i.reason,
                RetakeReason::Blur | RetakeReason::TooDark | RetakeReason::Glare
            )
        }) || too_small && page.lines.len() >= MIN_LINES_TO_TURN;
        let failure: Option<(RetakeReason, String)> = match model {
            // A selfie sent where a card was asked for (the core keeps it for the selfie step).
            None if mrz.is_none() && !degraded && self.shows_a_selfie(&img.to_rgb8()) => Some((
                RetakeReason::FaceNotDocument,
                "a face fills the photo and no identity document was recognised".to_owned(),
            )),
            None => Some(not_a_document(&page, mrz.as_ref())),
            Some(m) if m.refused.is_some() => Some((
                RetakeReason::Expired,
                m.refused.unwrap_or_default().to_owned(),
            )),
            Some(m) => {
                let wants_mrz = m.mrz.is_some() && side_detected != Some(Side::Front);
                let key_read = m.key_fields.is_empty()
                    || m.key_fields.iter().any(|k| readings.contains_key(*k));
                // With a defect measured, a front must be read nearly whole: a glare that
                // hid half the labels also garbles the values next to them.
                let complete = readings.len() as f32 >= 0.75 * m.labels.len() as f32;
                let mrz_valid = mrz.as_ref().is_some_and(|z| z.valid());
                let defect = !report.issues.is_empty();
                let front_ok = side_detected == Some(Side::Back)
                    || mrz_valid
                    || printed_front_read(
                        fields.len(),
                        key_read,
                        front_names(&readings),
                        defect,
                        complete,
                    );
                if wants_mrz && mrz.is_none() && fields.len() < 3 {
                    Some((
                        RetakeReason::Unreadable,
                        "the machine-readable zone could not be read".to_owned(),
                    ))
                } else if !front_ok {
                    Some((
                        RetakeReason::Unreadable,
                        "the document's identifier and printed fields could not be read".to_owned(),
                    ))
                } else {
                    None
                }
            }
        };
        let outcome = match failure {
            Some((reason, detail)) => {
                // A measured defect names the fix when it can explain the failure: the text
                // could not be read, or nothing was recognised (but not a card recognised as
                // the wrong kind, or a refused model).
                // Text too small to read explains whatever was not recognised (a passport's
                // zone too small to read is not "the cover").
                let explainable = reason == RetakeReason::Unreadable
                    || (model.is_none() && (detail.starts_with("text was read") || too_small));
                // Blur first when it was measured: a blurred photo's text is found smaller
                // and nearer the edges than it is, so "too small" or "cropped" beside a blur
                // would name the wrong fix.
                let named = report
                    .issues
                    .iter()
                    .find(|i| i.reason == RetakeReason::Blur)
                    .or(report.issues.first());
                match named.filter(|_| explainable) {
                    Some(issue) => DocumentOutcome::Retake {
                        reason: issue.reason,
                        detail: issue.detail.clone(),
                    },
                    None => DocumentOutcome::Retake { reason, detail },
                }
            }
            None => match problem.and_then(|p| p.retake_reason()) {
                Some(r) => DocumentOutcome::Retake {
                    reason: retake_from_str(r),
                    detail: checks
                        .iter()
                        .find(|c| !c.passed)
                        .map(|c| c.name.clone())
                        .unwrap_or_default(),
                },
                None => DocumentOutcome::Accepted {
                    data: DocumentData {
                        fields: fields.clone(),
                        checks: checks.clone(),
                        portrait_found: portrait.is_some(),
                    },
                },
            },
        };
        timings.extract_ms = ms(t) + extract_ms;
        tracing::debug!(
            model = model.map(|m| m.id),
            lines = page.lines.len(),
            rotation = page.rotation,
            mrz = mrz.is_some(),
            fields = fields.len(),
            "document read"
        );
        Ok(Analysis {
            document,
            side: side_detected.unwrap_or(Side::Front),
            side_detected,
            model: model.map(|m| m.id),
            quality: report,
            barcodes,
            mrz,
            payload,
            fields,
            checks,
            outcome,
            portrait,
            lines: page.lines.clone(),
            rotation: page.rotation,
            text_height_px: page.median_text_height_px(),
            timings,
        })
    }

    /// Whether a photo in which no document was recognised is a selfie: a face at least
    /// [`SELFIE_FACE_FRACTION`] of the photo's short side wide (measured on the whole decoded
    /// photo, not the page cut for reading). An unreadable card is not taken for a selfie: its
    /// portrait is too small. Without the face models nothing is a selfie.
    fn shows_a_selfie(&self, img: &image::RgbImage) -> bool {
        let Some(faces) = self.faces.as_ref() else {
            return false;
        };
        let Ok(found) = faces.detect(img) else {
            return false;
        };
        let short = img.width().min(img.height()) as f32;
        found
            .iter()
            .any(|f| f.width() >= SELFIE_FACE_FRACTION * short)
    }

    fn portrait(&self, img: &image::RgbImage) -> Option<Vec<u8>> {
        let faces = self.faces.as_ref()?.detect(img).ok()?;
        let f = faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()))?;
        let (cx, cy) = ((f.x0 + f.x1) / 2.0, (f.y0 + f.y1) / 2.0);
        let (w, h) = (f.width() * 1.6, f.height() * 1.9);
        let x0 = (cx - w / 2.0).max(0.0) as u32;
        let y0 = (cy - h / 2.0).max(0.0) as u32;
        let x1 = ((cx + w / 2.0) as u32).min(img.width());
        let y1 = ((cy + h / 2.0) as u32).min(img.height());
        if x1 <= x0 + 16 || y1 <= y0 + 16 {
            return None;
        }
        let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        DynamicImage::ImageRgb8(crop)
            .write_with_encoder(enc)
            .ok()
            .map(|_| out)
    }

    /// Chooses each value (printed, MRZ, barcode) and runs the cross-checks: the document
    /// crate's template when the model has one, the MRZ's own check digits otherwise.
    #[allow(clippy::type_complexity)]
    fn assemble(
        &self,
        model: Option<&'static models::Model>,
        readings: &BTreeMap<String, models::Reading>,
        mrz: Option<&mrz::Mrz>,
        payload: Option<&payload::PayloadFields>,
    ) -> (
        BTreeMap<String, ExtractedField>,
        Vec<CrossCheck>,
        Option<template::Problem>,
    ) {
        let mut fields = BTreeMap::new();
        let mut checks = Vec::new();
        let mut problem = None;
        let pe_dni = model.is_some_and(|m| m.id == "pe-dni");
        let printed: BTreeMap<String, String> = readings
            .iter()
            .map(|(k, r)| (k.clone(), r.value.clone()))
            .flat_map(|(k, v)| match k.as_str() {
                // Dates go to the document crate as `DD/MM/YYYY`, with the place split off.
                "issue" | "expiry" => {
                    let (d, _) = v.split_once(", ").unwrap_or((&v, ""));
                    let key = if k == "issue" {
                        "issue_date"
                    } else {
                        "expiry_date"
                    };
                    vec![(key.to_owned(), d.to_owned())]
                }
                "nuip" => vec![("citizen_id".to_owned(), v)],
                // Peru prints the DNI with its check character after a dash.
                "document_number" if pe_dni && v.chars().count() == 9 => vec![
                    (k, v.chars().take(8).collect()),
                    ("check_character".to_owned(), v.chars().skip(8).collect()),
                ],
                _ => vec![(k, v)],
            })
            .collect();
        let mrz_conf = if mrz.is_some_and(|m| m.valid()) {
            0.99
        } else {
            0.5
        };
        let conf_of = |k: &str| -> f32 {
            readings
                .get(k)
                .map(|r| {
                    if r.labelled {
                        r.confidence
                    } else {
                        r.confidence * 0.9
                    }
                })
                .unwrap_or(0.5)
        };
        if let Some(tkind) = model.and_then(|m| m.template) {
            let obs = template::Observations {
                printed: Some(&printed),
                mrz,
                barcode: payload,
            };
            let verdicts = template::cross_check(tkind, &obs, &template::Policy::new(self.today()));
            let spanish = model.is_some_and(|m| m.spanish_sex);
            let ine_sex = match mrz.and_then(|m| m.national()) {
                Some(mrz::NationalData::MxIne(ine)) if spanish => match ine.sex_letter.as_str() {
                    "H" => Some("M"),
                    "M" => Some("F"),
                    _ => None,
                },
                _ => None,
            };
            for c in &verdicts.checks {
                // Only what this photo shows is checked: a field nobody read is not "missing"
                // on a photo of one side.
                if c.name.starts_with("present.") {
                    continue;
                }
                let mut passed = c.passed;
                let mut detail = c.detail.clone();
                if !passed && c.name.contains("sex") && ine_sex.is_some() {
                    passed = true;
                    detail = "sex read from the INE MRZ as Spanish (H/M)".into();
                }
                // The gravest problem decides (a field failing its own grammar is only a
                // check: the outcome ignores `Unreadable`).
                if !passed
                    && let Some(p) = c.problem
                    && p != template::Problem::Unreadable
                    && problem.is_none_or(|q| p > q)
                {
                    problem = Some(p);
                }
                checks.push(CrossCheck {
                    name: c.name.clone(),
                    passed,
                    detail,
                });
            }
            if let Some(sex) = ine_sex
                && verdicts.fields.get("sex").is_none_or(|v| v.value.is_none())
            {
                fields.insert(
                    "sex".to_owned(),
                    ExtractedField {
                        value: sex.to_owned(),
                        confidence: mrz_conf,
                        source: FieldSource::Mrz,
                    },
                );
            }
            for (k, (v, source)) in verdicts.values() {
                let (src, conf) = match source {
                    template::Source::Mrz => (FieldSource::Mrz, mrz_conf),
                    template::Source::Barcode => (FieldSource::Barcode, 1.0),
                    template::Source::Printed => (FieldSource::Printed, conf_of(&k)),
                    #[allow(unreachable_patterns)]
                    _ => (FieldSource::Derived, 0.9),
                };
                fields.insert(
                    k,
                    ExtractedField {
                        value: v,
                        confidence: conf,
                        source: src,
                    },
                );
            }
            if let Some(mrz::NationalData::MxIne(ine)) = mrz.and_then(|m| m.national())
                && let Some(section) = ine.section
            {
                fields
                    .entry("section".to_owned())
                    .or_insert(ExtractedField {
                        value: section,
                        confidence: mrz_conf,
                        source: FieldSource::Mrz,
                    });
            }
        } else if let Some(m) = mrz {
            // Passports and identity cards of any issuer: the MRZ is the record, its check
            // digits the checks.
            let f = &m.fields;
            let today = self.today();
            let mut put = |k: &str, v: String| {
                if !v.trim().is_empty() {
                    fields.insert(
                        k.to_owned(),
                        ExtractedField {
                            value: v,
                            confidence: mrz_conf,
                            source: FieldSource::Mrz,
                        },
                    );
                }
            };
            put("document_number", f.document_number.clone());
            put("surnames", f.surname.clone());
            put("given_names", f.given_names.clone());
            put("nationality", f.nationality.clone());
            put("issuing_state", f.country.clone());
            put("document_type", f.document_type.clone());
            if let Some(s) = m.sex() {
                put("sex", s.to_owned());
            }
            if let Some(d) = m.birth_date(today) {
                put("birth_date", d.to_string());
            }
            let expiry = m.expiry_date(today);
            if let Some(d) = expiry {
                put("expiry_date", d.to_string());
            }
            let c = &m.checks;
            for (name, ok) in [
                ("mrz.check.document_number", c.document_number),
                ("mrz.check.birth_date", c.birth_date),
                ("mrz.check.expiry_date", c.expiry_date),
                ("mrz.check.composite", c.composite),
            ] {
                checks.push(CrossCheck {
                    name: name.to_owned(),
                    passed: ok,
                    detail: if ok {
                        "check digit verifies".into()
                    } else {
                        "check digit does not verify".into()
                    },
                });
            }
            if let Some(d) = expiry {
                let ok = d >= today;
                checks.push(CrossCheck {
                    name: "expiry.not_expired".into(),
                    passed: ok,
                    detail: if ok { "valid".into() } else { "expired".into() },
                });
                if !ok {
                    problem = Some(template::Problem::Expired);
                }
            }
        }
        // Printed fields outside the template are still reported.
        for (k, r) in readings {
            let parts_of_surnames = matches!(k.as_str(), "first_surname" | "second_surname");
            let split = pe_dni && k == "document_number";
            if !fields.contains_key(k) && !parts_of_surnames && !split {
                fields.insert(
                    k.clone(),
                    ExtractedField {
                        value: r.value.clone(),
                        confidence: conf_of(k),
                        source: FieldSource::Printed,
                    },
                );
            }
        }
        (fields, checks, problem)
    }
}

/// Where the document is on the page: around the lines that show its model (titles, labels,
/// the machine-readable zone). Values sit beside their labels and below the titles: a wide
/// margin above and below, a narrow one at the sides (a receipt may lie right next to the card).
fn document_region(page: &page::Page, model: &models::Model) -> Option<crate::ocr::TextBox> {
    let ev = models::evidence_lines(page, model);
    let r = page::union_of(ev.iter().map(|&i| page.lines[i].bbox))?;
    let long = (r.x1 - r.x0).max(r.height());
    let (mx, my) = (0.02 * long, 0.15 * long);
    Some(crate::ocr::TextBox {
        x0: r.x0 - mx,
        y0: r.y0 - my,
        x1: r.x1 + mx,
        y1: r.y1 + my,
        score: r.score,
    })
}

/// Whether a line belongs to a region: its centre within the region's height, its start
/// within the region's width (a value starts under or beside its label and may run past the
/// labels' right edge; a receipt's line beside the card starts outside).
fn in_region(b: &crate::ocr::TextBox, region: &crate::ocr::TextBox) -> bool {
    let cy = b.center().1;
    cy >= region.y0 && cy <= region.y1 && b.x0 >= region.x0 && b.x0 <= region.x1
}

/// The page without the lines that lie outside the document's region (`None` when every line
/// is inside, or too few would remain).
fn document_only(page: &page::Page, model: &models::Model) -> Option<page::Page> {
    let region = document_region(page, model)?;
    let keep: Vec<TextLine> = page
        .lines
        .iter()
        .filter(|l| in_region(&l.bbox, &region))
        .cloned()
        .collect();
    if keep.len() == page.lines.len() || keep.len() < 3 {
        return None;
    }
    let mut p = page.clone();
    p.rows = page::group_rows(&keep);
    p.lines = keep;
    Some(p)
}

/// The page without the text beside the document (a receipt, a sheet of paper in view), when
/// the document is still recognised without it, and the model's fields read on it. The
/// document's region is drawn around its titles and labels, so a value printed beyond them (a
/// number at the card's edge, left of every label) falls outside it: the model's key
/// identifiers, whose grammars a receipt does not print, are then looked for on the whole page.
fn document_readings(
    page: page::Page,
    model: Option<&'static models::Model>,
    mrz: Option<&mrz::Mrz>,
) -> (page::Page, BTreeMap<String, models::Reading>) {
    let Some(m) = model else {
        return (page, BTreeMap::new());
    };
    let (page, beside) = match document_only(&page, m) {
        Some(p) if models::detect(&p, mrz).map(|d| d.id) == Some(m.id) => (p, Some(page)),
        _ => (page, None),
    };
    let mut readings = models::extract(&page, m);
    if let Some(whole) = beside.as_ref()
        && !m.key_fields.iter().any(|k| readings.contains_key(*k))
    {
        let all = models::extract(whole, m);
        for k in m.key_fields {
            if let Some(r) = all.get(*k) {
                readings.insert((*k).to_owned(), r.clone());
            }
        }
    }
    (page, readings)
}

/// Whether a page read as `model` answers by itself: a valid zone, or the model's key
/// identifier read (the fields then decide; a page that answers needs no second reading).
fn answers(page: &page::Page, model: Option<&models::Model>, mrz: Option<&mrz::Mrz>) -> bool {
    if mrz.is_some_and(|z| z.valid()) {
        return true;
    }
    let Some(m) = model else {
        return false;
    };
    let readings = models::extract(page, m);
    !m.key_fields.is_empty() && m.key_fields.iter().any(|k| readings.contains_key(*k))
}

/// Whether a front was read from its print: its key identifier and two more fields (with a
/// defect measured, nearly every label's value: a glare that hid half the labels also
/// garbles the values next to them). A front that prints few fields (the yellow cédula's:
/// number, surnames, given names) is read with its key identifier and a name when no defect
/// was measured.
fn printed_front_read(
    fields: usize,
    key_read: bool,
    names: bool,
    defect: bool,
    complete: bool,
) -> bool {
    key_read && (fields >= 3 && (!defect || complete) || fields >= 2 && names && !defect)
}

/// Whether the printed holder's name was read (the front of every supported card).
fn front_names(readings: &BTreeMap<String, models::Reading>) -> bool {
    readings.contains_key("surnames") || readings.contains_key("given_names")
}

/// Why a photo with no recognised document was refused.
fn not_a_document(page: &page::Page, mrz: Option<&mrz::Mrz>) -> (RetakeReason, String) {
    let folded = models::folded_text(page);
    if models::looks_like_payment_card(page) {
        return (
            RetakeReason::WrongDocument,
            "this looks like a payment card, not an identity document".into(),
        );
    }
    // A line that looks like a zone's (a run of fillers) is no cover: the zone is in view
    // and could not be read.
    if mrz.is_none() && page.zone_text_height_px().is_some() {
        return (
            RetakeReason::Unreadable,
            "the machine-readable zone could not be read".into(),
        );
    }
    if mrz.is_none() && (folded.contains("PASAPORTE") || folded.contains("PASSPORT")) {
        return (
            RetakeReason::WrongDocument,
            "a passport without its machine-readable zone in view (the cover?): photograph the photo page".into(),
        );
    }
    let confident = page.lines.iter().filter(|l| l.confidence > 0.85).count();
    if confident >= 6 {
        return (
            RetakeReason::WrongDocument,
            "text was read but no supported identity document was recognised".into(),
        );
    }
    (
        RetakeReason::Unreadable,
        "no identity document could be read".into(),
    )
}

/// The fewest recognised lines for which a page that showed no document is read again at the
/// other rotations (fewer is a photo with little text: a selfie, a blank or blurred frame).
pub const MIN_LINES_TO_TURN: usize = 6;

/// The smallest median text height (original pixels) the recognizer reads reliably: the
/// documents-dev passports and TD1 cards downscaled until their zone no longer read (issue
/// 10's thumbnails) read at 9.2–13 px and failed at 5.3–8.8 px (one read at 7.8). Only names
/// the defect of a photo whose extraction failed: smaller text that reads is accepted.
pub const MIN_TEXT_HEIGHT_PX: f32 = 9.0;
/// The text height (original pixels) below which text on a card outline covering less than
/// [`quality::MIN_COVERAGE`] of the frame is too small (the gate's bound before the fourth
/// pass, kept).
pub const SMALL_CARD_TEXT_HEIGHT_PX: f32 = 21.0;
/// Glare: fraction of the text region covered by saturated blobs.
pub const MAX_TEXT_GLARE: f32 = 0.04;

/// The defects measured on the text: darkness and glare over the region the text lies in (a
/// white page whose paper is all bright is not glare), "too small" by the text's height, blur
/// from the whole-frame sharpness when the text also reads poorly, "cropped" when text runs
/// into the frame's edge. Without any text, the whole-frame gate's verdict stands.
fn text_quality(
    page: &page::Page,
    report: &QualityReport,
    document: Option<&crate::ocr::TextBox>,
    zone_unread: bool,
) -> Vec<quality::QualityIssue> {
    let Some(text) = page.text_region() else {
        return report.issues.clone();
    };
    // Measured on the document's text when its model was recognised, not on a receipt beside it.
    let region = document
        .map(|d| crate::ocr::TextBox {
            x0: text.x0.max(d.x0),
            y0: text.y0.max(d.y0),
            x1: text.x1.min(d.x1),
            y1: text.y1.min(d.y1),
            score: text.score,
        })
        .filter(|r| r.x1 > r.x0 + 8.0 && r.y1 > r.y0 + 8.0)
        .unwrap_or(text);
    let img = &page.image;
    let (x0, y0) = (region.x0.max(0.0) as u32, region.y0.max(0.0) as u32);
    let (x1, y1) = (
        (region.x1 as u32).min(img.width()),
        (region.y1 as u32).min(img.height()),
    );
    let mut issues = Vec::new();
    if x1 <= x0 + 8 || y1 <= y0 + 8 {
        return report.issues.clone();
    }
    let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let small = image::imageops::thumbnail(&crop, 320.min(crop.width()), 320.min(crop.height()));
    let (mut n, mut sum, mut dark) = (0u64, 0u64, 0u64);
    let mut lumas: Vec<u8> = Vec::with_capacity((small.width() * small.height()) as usize);
    let mut sat = image::GrayImage::new(small.width(), small.height());
    for (x, y, p) in small.enumerate_pixels() {
        let l = ((p.0[0] as u32 * 299 + p.0[1] as u32 * 587 + p.0[2] as u32 * 114) / 1000) as u8;
        n += 1;
        sum += l as u64;
        if l < quality::DARK_LEVEL {
            dark += 1;
        }
        lumas.push(l);
        let m = p.0[0].min(p.0[1]).min(p.0[2]);
        sat.put_pixel(
            x,
            y,
            image::Luma([if m >= quality::GLARE_LEVEL { 255 } else { 0 }]),
        );
    }
    let mean = sum as f32 / n.max(1) as f32;
    let dark_fraction = dark as f32 / n.max(1) as f32;
    lumas.sort_unstable();
    let median = lumas.get(lumas.len() / 2).copied().unwrap_or(0);
    if mean < quality::MIN_MEAN_LUMA || dark_fraction > quality::MAX_DARK_FRACTION {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::TooDark,
            detail: format!("text region mean luma {mean:.0}"),
        });
    }
    // Saturated blobs on a page whose paper is not itself saturated.
    let sat = imageproc::morphology::erode(&sat, imageproc::distance_transform::Norm::LInf, 2);
    let glare = sat.pixels().filter(|p| p.0[0] == 255).count() as f32 / n.max(1) as f32;
    if median < 245 && glare > MAX_TEXT_GLARE {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::Glare,
            detail: format!("{:.1}% of the text region is saturated", glare * 100.0),
        });
    }
    let mean_conf =
        page.lines.iter().map(|l| l.confidence).sum::<f32>() / page.lines.len().max(1) as f32;
    if report.metrics.sharpness < quality::MIN_SHARPNESS && mean_conf < 0.85 {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::Blur,
            detail: format!(
                "sharpness {:.1}, text read with {:.0}% confidence",
                report.metrics.sharpness,
                mean_conf * 100.0
            ),
        });
    }
    // The frame's edges, not the page's: a levelled or rectified page has new edges. With the
    // card's outline wholly inside the frame, only the text on the card counts: a sheet of
    // paper beside the card may run off the frame, the card does not.
    let card_inside = card_inside_frame(report);
    let cut = page
        .lines
        .iter()
        .filter(|l| {
            let in_document = document.is_none_or(|d| in_region(&l.bbox, d));
            page.touches_frame(&l.bbox) && (!card_inside || page.on_card(&l.bbox)) && in_document
        })
        .count();
    // Text cut by the frame's edge; the card outline touching the edge only corroborates (a
    // failed quad fit alone never decides).
    let quad_cropped = report
        .issues
        .iter()
        .any(|i| i.reason == RetakeReason::Cropped);
    if cut >= 2 || quad_cropped && cut >= 1 {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::Cropped,
            detail: format!("{cut} text lines touch the frame's edge"),
        });
    }
    // Too small by the text's height; a card outline that covers a small share of the frame
    // corroborates text of modest height (a full-frame scan of 440 px is small in pixels, not
    // in the frame: its text height alone decides). The corroborated bound stays the 21 px it
    // was: `tests/document_reader.rs` holds a card a fifth of the frame, values 14–16 px and
    // labels 8–10 px, to `too_small` or a whole read (see docs, "Fourth pass").
    // A zone in view but not read is judged by its own lines' height (a passport page's
    // titles are taller than its zone: their median said 11 px where the zone was 8–10).
    let zone = page
        .zone_text_height_px()
        .filter(|_| zone_unread)
        .filter(|&z| z < MIN_TEXT_HEIGHT_PX);
    let th = page.median_text_height_px();
    let quad_small = report.metrics.card_found && report.metrics.coverage < quality::MIN_COVERAGE;
    if let Some(z) = zone {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::TooSmall,
            detail: format!("the machine-readable zone's text is {z:.1} px tall"),
        });
    } else if th < MIN_TEXT_HEIGHT_PX || quad_small && th < SMALL_CARD_TEXT_HEIGHT_PX {
        issues.push(quality::QualityIssue {
            reason: RetakeReason::TooSmall,
            detail: format!("text is {th:.1} px tall"),
        });
    }
    issues
}

/// Whether the quality gate found a card outline with every corner clear of the frame's edge
/// (by 1 % of its long side): such a card is whole in the photo.
fn card_inside_frame(report: &QualityReport) -> bool {
    let (w, h) = (report.metrics.width as f32, report.metrics.height as f32);
    let m = 0.01 * w.max(h);
    report.metrics.card_found
        && report
            .quad
            .iter()
            .all(|&(x, y)| x > m && y > m && x < w - m && y < h - m)
}

#[async_trait]
impl DocumentReader for LocalDocumentReader {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            documents: models::MODELS
                .iter()
                .filter(|m| m.refused.is_none())
                .filter_map(|m| m.document)
                .flat_map(|d| [(d, Side::Front), (d, Side::Back)])
                .collect(),
            ..Default::default()
        }
    }

    async fn read(&self, image: DocumentImage<'_>) -> PortResult<DocumentReading> {
        // Inference is CPU-bound: keep it off the async executor's threads.
        let this = self.clone();
        let bytes = image.image.to_vec();
        let (doc, side) = (image.document, image.side);
        let analysis = tokio::task::spawn_blocking(move || this.analyse(&bytes, doc, side))
            .await
            .map_err(|e| {
                PortError::new(PortErrorKind::Internal, format!("reader task failed: {e}"))
            })??;
        Ok(DocumentReading {
            outcome: analysis.outcome,
            portrait: analysis.portrait,
        })
    }
}

fn empty_analysis(
    document: DocumentKind,
    side: Side,
    quality: Option<QualityReport>,
    outcome: DocumentOutcome,
    timings: Timings,
) -> Analysis {
    Analysis {
        document,
        side,
        side_detected: None,
        model: None,
        rotation: 0,
        text_height_px: 0.0,
        quality: quality.unwrap_or_else(|| QualityReport {
            ok: false,
            issues: vec![],
            metrics: quality::QualityMetrics {
                width: 0,
                height: 0,
                sharpness: 0.0,
                mean_luma: 0.0,
                dark_fraction: 0.0,
                glare_fraction: 0.0,
                coverage: 0.0,
                card_width_px: 0.0,
                skew_degrees: 0.0,
                perspective: 0.0,
                card_found: false,
            },
            quad: [(0.0, 0.0); 4],
        }),
        barcodes: vec![],
        mrz: None,
        payload: None,
        fields: BTreeMap::new(),
        checks: vec![],
        outcome,
        portrait: None,
        lines: vec![],
        timings,
    }
}

fn retake_from_str(s: &str) -> RetakeReason {
    RetakeReason::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .unwrap_or(RetakeReason::Unreadable)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Upper-cases an OCR'd MRZ line, drops spaces and maps look-alike letters the recognizer's
/// large dictionary may return (Greek and Cyrillic capitals, guillemets, angle brackets and
/// the kana and bopomofo shaped like `<`) to the MRZ alphabet.
pub fn mrz_chars(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'Α' | 'А' => 'A',
            'Β' | 'В' => 'B',
            'Ε' | 'Е' => 'E',
            'Ζ' => 'Z',
            'Η' | 'Н' => 'H',
            'Ι' | 'І' => 'I',
            'Κ' | 'К' => 'K',
            'Μ' | 'М' => 'M',
            'Ν' => 'N',
            'Ο' | 'О' => 'O',
            'Ρ' | 'Р' => 'P',
            'С' => 'C',
            'Τ' | 'Т' => 'T',
            'Υ' | 'У' => 'Y',
            'Χ' | 'Х' => 'X',
            // The filler read as a look-alike of another script at low resolution (a 300 px
            // thumbnail's zone came back with hiragana く for half its fillers).
            '«' | '‹' | '〈' | '＜' | '〈' | '⟨' | '❮' | '❬' | 'く' | 'ㄑ' => '<',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Today's date from the system clock (UTC).
fn system_today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's well-known algorithm.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    Date::new(y, m, d).unwrap_or_else(|| Date::new(2026, 1, 1).expect("valid date"))
}

// ---------------------------------------------------------------------------------------------
// Field grammars: OCR repair
// ---------------------------------------------------------------------------------------------

fn to_digit(c: char) -> char {
    match c {
        'O' | 'o' | 'D' | 'Q' | 'U' => '0',
        'I' | 'l' | 'i' | '|' | 'L' | 'J' => '1',
        'Z' | 'z' => '2',
        'S' | 's' => '5',
        'B' => '8',
        'G' | 'b' => '6',
        'T' => '7',
        'A' => '4',
        'g' | 'q' => '9',
        c => c,
    }
}

/// In an MRZ name field: digits read for letters (`<` and letters unchanged).
fn digit_to_letter(c: char) -> char {
    if c.is_ascii_digit() { to_letter(c) } else { c }
}

fn to_letter(c: char) -> char {
    match c {
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '5' => 'S',
        '8' => 'B',
        '6' => 'G',
        '7' => 'T',
        '4' => 'A',
        c => c.to_ascii_uppercase(),
    }
}

/// Applies a positional pattern (`L` letter, `D` digit, `A` either, `S` sex letter) to an
/// identifier read by OCR, fixing letter/digit confusions where the position allows only one.
pub fn repair_pattern(raw: &str, pattern: &str) -> String {
    let chars: Vec<char> = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    chars
        .iter()
        .zip(pattern.chars().chain(std::iter::repeat('A')))
        .map(|(&c, p)| match p {
            'D' => to_digit(c),
            'L' | 'S' => to_letter(c),
            _ => c.to_ascii_uppercase(),
        })
        .collect()
}

/// CURP: 4 letters, 6 digits (birth date), sex, 2 letters (state), 3 consonants, homoclave,
/// check digit.
pub const CURP_PATTERN: &str = "LLLLDDDDDDSLLLLLAD";
/// Clave de elector: 6 letters, 6 digits (birth date), 2 digits (state), sex, 3 digits.
pub const CLAVE_ELECTOR_PATTERN: &str = "LLLLLLDDDDDDDDSDDD";

/// Repairs a field's raw OCR text by its grammar. Returns the value (identifiers normalized,
/// dates and sex left in their printed form for the document crate to interpret) and whether
/// it matches the grammar.
pub fn repair(grammar: Grammar, raw: &str) -> (String, bool) {
    let raw = raw.trim();
    match grammar {
        Grammar::Name => {
            let v: String = raw
                .to_uppercase()
                .chars()
                .map(|c| match c {
                    '0' => 'O',
                    '1' => 'I',
                    '5' => 'S',
                    c => c,
                })
                .filter(|c| c.is_alphabetic() || *c == ' ')
                .collect();
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            let ok = !v.is_empty();
            (v, ok)
        }
        Grammar::Text => {
            // The recognizer often drops the space after a comma; addresses print one.
            let v = raw
                .replace(',', ", ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (v.clone(), !v.is_empty())
        }
        Grammar::Curp => {
            let v = repair_pattern(raw, CURP_PATTERN);
            let ok =
                kyc_flow_documents::id::validate(kyc_flow_documents::id::IdKind::MxCurp, &v).valid;
            (v, ok)
        }
        Grammar::ClaveElector => {
            let v = repair_pattern(raw, CLAVE_ELECTOR_PATTERN);
            let ok = v.len() == 18;
            (v, ok)
        }
        Grammar::Digits(min, max) => {
            let v: String = raw
                .chars()
                .filter(|c| !matches!(c, '.' | ',' | ' ' | '-' | '\''))
                .map(to_digit)
                .collect();
            let ok = (min..=max).contains(&v.len()) && v.chars().all(|c| c.is_ascii_digit());
            (v, ok)
        }
        Grammar::DateDmySlash | Grammar::DateDmySpace => {
            let d: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '/' && *c != '-' && *c != '.')
                .map(to_digit)
                .collect();
            if d.len() == 8 && d.chars().all(|c| c.is_ascii_digit()) {
                let v = format!("{}/{}/{}", &d[0..2], &d[2..4], &d[4..8]);
                let ok = template::parse_printed_date(&v).is_some();
                (v, ok)
            } else {
                (raw.to_owned(), false)
            }
        }
        Grammar::DateDmmmY => {
            let up = raw.to_uppercase().replace(' ', "");
            let parts: Vec<&str> = up
                .split(['-', '.', '/'])
                .filter(|p| !p.is_empty())
                .collect();
            if parts.len() == 3 {
                let day: String = parts[0].chars().map(to_digit).collect();
                let month: String = parts[1].chars().map(to_letter).collect();
                let year: String = parts[2].chars().map(to_digit).collect();
                let v = format!("{day}-{month}-{year}");
                let ok = template::parse_printed_date(&v).is_some();
                (v, ok)
            } else {
                (raw.to_owned(), false)
            }
        }
        Grammar::Sex => {
            let v: String = raw
                .chars()
                .filter(|c| c.is_alphanumeric())
                .take(1)
                .map(to_letter)
                .collect();
            let ok = matches!(v.as_str(), "H" | "M" | "F");
            (v, ok)
        }
        Grammar::YearRange => {
            let d: String = raw
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(to_digit)
                .collect();
            if d.len() == 8 && d.chars().all(|c| c.is_ascii_digit()) {
                (format!("{} - {}", &d[0..4], &d[4..8]), true)
            } else {
                (raw.to_owned(), false)
            }
        }
        Grammar::PeDniNumber => {
            let v: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let mut chars: Vec<char> = v.chars().collect();
            for c in chars.iter_mut().take(8) {
                *c = to_digit(*c);
            }
            let v: String = chars.into_iter().collect();
            let ok = v.len() == 9
                && kyc_flow_documents::id::pe_dni_check_chars(&v[..8]).is_some_and(|(d, l)| {
                    let last = v.chars().nth(8).unwrap_or(' ');
                    last == d || last == l
                });
            (v, ok)
        }
        Grammar::BloodType => {
            let v: String = raw
                .to_uppercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| if c == '0' { 'O' } else { c })
                .collect();
            let ok = matches!(
                v.as_str(),
                "O+" | "O-" | "A+" | "A-" | "B+" | "B-" | "AB+" | "AB-"
            );
            (v, ok)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `kyc-flow inspect image`
// ---------------------------------------------------------------------------------------------

static SHARED: std::sync::Mutex<Option<LocalDocumentReader>> = std::sync::Mutex::new(None);

fn shared_reader() -> Result<LocalDocumentReader, String> {
    let mut g = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = g.as_ref() {
        return Ok(r.clone());
    }
    let r = LocalDocumentReader::from_default_assets()
        .map_err(|e| e.to_string())?
        .with_every_barcode();
    *g = Some(r.clone());
    Ok(r)
}

/// The document kinds of a country (`MX` → INE, `CO` → cédulas, `PE` → DNI).
pub fn document_for_country(country: &str) -> Option<DocumentKind> {
    match country.trim().to_ascii_uppercase().as_str() {
        "MX" => Some(DocumentKind::MxIne),
        "CO" => Some(DocumentKind::CoCedula),
        "PE" => Some(DocumentKind::PeDni),
        _ => None,
    }
}

/// Library entry of `kyc-flow inspect image IMAGE [--country CC] [--side front|back]`.
///
/// The document model and side are recognised from the photo itself; `--country` and
/// `--side`, when given, are checked against what was read (a mismatch becomes a
/// `wrong_document` / `wrong_side` outcome). `Err` is a usage error or an engine failure (exit 2).
pub fn inspect_image(
    image: &[u8],
    country: Option<&str>,
    side: Option<&str>,
) -> Result<serde_json::Value, String> {
    let doc = match country {
        Some(c) => Some(
            document_for_country(c)
                .ok_or_else(|| format!("unsupported country {c:?} (MX, CO, PE)"))?,
        ),
        None => None,
    };
    let side = match side.map(|s| s.trim().to_ascii_lowercase()) {
        Some(s) if s == "front" => Some(Side::Front),
        Some(s) if s == "back" => Some(Side::Back),
        Some(s) => return Err(format!("side must be front or back, not {s:?}")),
        None => None,
    };
    let reader = shared_reader()?;
    let a = match (doc, side) {
        (Some(d), s) => {
            let mut a = reader
                .analyse(image, d, s.unwrap_or(Side::Front))
                .map_err(|e| e.to_string())?;
            if s.is_none() {
                a.side = a.side_detected.unwrap_or(Side::Front);
                if let DocumentOutcome::Retake {
                    reason: RetakeReason::WrongSide,
                    ..
                } = a.outcome
                {
                    a = reader.read_photo(image).map_err(|e| e.to_string())?;
                }
            }
            a
        }
        (None, Some(s)) => {
            let mut a = reader.read_photo(image).map_err(|e| e.to_string())?;
            if matches!(a.outcome, DocumentOutcome::Accepted { .. })
                && a.side_detected.is_some_and(|d| d != s)
            {
                a.outcome = DocumentOutcome::Retake {
                    reason: RetakeReason::WrongSide,
                    detail: format!("expected the {} side", s.as_str()),
                };
            }
            a
        }
        (None, None) => reader.read_photo(image).map_err(|e| e.to_string())?,
    };
    analysis_json(&a)
}

/// The `inspect image` JSON of an analysis.
pub fn analysis_json(a: &Analysis) -> Result<serde_json::Value, String> {
    let report = &a.quality;
    let mut quality_json = serde_json::to_value(&report.metrics).map_err(|e| e.to_string())?;
    quality_json["ok"] = report.ok.into();
    quality_json["issues"] = report
        .issues
        .iter()
        .map(|i| serde_json::json!({"reason": i.reason.as_str(), "detail": i.detail}))
        .collect::<Vec<_>>()
        .into();
    quality_json["text_height_px"] = serde_json::json!(a.text_height_px);
    quality_json["text_lines"] = a.lines.len().into();
    quality_json["rotation"] = a.rotation.into();
    let mut out = serde_json::json!({
        "quality": quality_json,
        "barcodes": [],
        "mrz": null,
        "fields": {},
        "checks": [],
    });
    if a.model.is_some() {
        out["document"] = match a.model.and_then(models_document) {
            Some(d) => serde_json::to_value(d).map_err(|e| e.to_string())?,
            None => serde_json::Value::Null,
        };
        out["model"] = a.model.into();
        out["side"] = match a.side_detected {
            Some(s) => serde_json::to_value(s).map_err(|e| e.to_string())?,
            None => "both".into(),
        };
    }
    out["barcodes"] = a
        .barcodes
        .iter()
        .map(DecodedBarcode::to_json)
        .collect::<Vec<_>>()
        .into();
    if let Some(m) = &a.mrz {
        let mut j = serde_json::to_value(m).map_err(|e| e.to_string())?;
        j["valid"] = m.valid().into();
        j["lines"] = m.lines.clone().into();
        out["mrz"] = j;
    }
    if let Some(p) = &a.payload {
        out["payload"] = serde_json::to_value(p).map_err(|e| e.to_string())?;
    }
    out["fields"] = serde_json::to_value(&a.fields).map_err(|e| e.to_string())?;
    out["checks"] = serde_json::to_value(&a.checks).map_err(|e| e.to_string())?;
    out["outcome"] = serde_json::to_value(&a.outcome).map_err(|e| e.to_string())?;
    out["portrait_found"] = a.portrait.is_some().into();
    out["timings_ms"] = serde_json::to_value(&a.timings).map_err(|e| e.to_string())?;
    Ok(out)
}

fn models_document(id: &str) -> Option<DocumentKind> {
    models::MODELS
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn curp_confusions_are_repaired_by_position() {
        // O↔0 and I↔1 confusions in both directions.
        let (v, _) = repair(Grammar::Curp, "G0MC8IO1O1HDFRRS0S");
        assert_eq!(&v[..4], "GOMC");
        assert_eq!(&v[4..10], "810101");
        assert_eq!(&v[10..11], "H");
    }

    #[test]
    fn dates_and_numbers_are_repaired() {
        assert_eq!(
            repair(Grammar::DateDmySlash, "2O/O4/l996"),
            ("20/04/1996".into(), true)
        );
        assert_eq!(
            repair(Grammar::Digits(6, 10), "1.O23.456.789"),
            ("1023456789".into(), true)
        );
        assert_eq!(repair(Grammar::BloodType, "0+"), ("O+".into(), true));
        assert_eq!(repair(Grammar::DateDmmmY, "28-ABR-l996").0, "28-ABR-1996");
        assert!(!repair(Grammar::Sex, "Q").1);
    }

    proptest! {
        #[test]
        fn repair_never_panics_and_pattern_keeps_length(s in "\\PC{0,40}") {
            for g in [Grammar::Name, Grammar::Text, Grammar::Curp, Grammar::ClaveElector, Grammar::Digits(1, 9),
                      Grammar::DateDmySlash, Grammar::DateDmySpace, Grammar::DateDmmmY, Grammar::Sex,
                      Grammar::YearRange, Grammar::PeDniNumber, Grammar::BloodType] {
                let _ = repair(g, &s);
            }
            let alnum = s.chars().filter(|c| c.is_ascii_alphanumeric()).count();
            prop_assert_eq!(repair_pattern(&s, CURP_PATTERN).chars().count(), alnum);
        }
    }

    /// `co-cedula front seed 2000023` of the randomised set: a receipt beside the card, so
    /// the page is cut to the card's titles and labels, and the number printed left of every
    /// label fell outside that cut.
    #[test]
    fn a_key_identifier_beyond_the_labels_is_still_read() {
        let line = |x0, y0, w, h, t| TextLine::at(x0, y0, w, h, t, 0.99);
        let mut lines = vec![
            line(369.0, 679.0, 410.0, 75.0, "REPÚBLICA DE COLOMBIA"),
            line(359.0, 742.0, 435.0, 60.0, "IDENTIFICACION PERSONAL"),
            line(388.0, 781.0, 391.0, 64.0, "CEDULA DE CIUDADANIA"),
            line(187.0, 844.0, 380.0, 78.0, "No. 1.055.269.871"),
            line(424.0, 912.0, 293.0, 65.0, "CHAVEZ PENA"),
            line(209.0, 934.0, 202.0, 67.0, "DANIELA"),
            line(440.0, 976.0, 104.0, 34.0, "Apellidos"),
            line(219.0, 1002.0, 119.0, 39.0, "NOMBRES"),
        ];
        for (i, t) in [
            "RECIBO TOTAL PAGO",
            "CONCEPTO $ 1.250,00",
            "FACTURA CLIENTE",
        ]
        .iter()
        .enumerate()
        {
            lines.push(line(1150.0, 1200.0 + 60.0 * i as f32, 300.0, 35.0, t));
        }
        let p = page::page_of(lines, 1500, 2000);
        let m = models::detect(&p, None);
        assert_eq!(m.map(|m| m.id), Some("co-cedula"));
        let (kept, readings) = document_readings(p, m, None);
        assert!(kept.lines.iter().all(|l| !l.text.contains("RECIBO")));
        assert_eq!(
            readings.get("document_number").map(|r| r.value.as_str()),
            Some("1055269871")
        );
    }

    /// `co-cedula front seed 2000010` of the randomised set: number and given names read,
    /// surnames not, on a clean photo — read, not sent back.
    #[test]
    fn a_front_with_its_identifier_and_a_name_is_read_when_nothing_is_wrong() {
        assert!(printed_front_read(2, true, true, false, false));
        // Not with a defect measured, without the identifier, or without a name.
        assert!(!printed_front_read(2, true, true, true, false));
        assert!(!printed_front_read(2, false, true, false, false));
        assert!(!printed_front_read(2, true, false, false, false));
        assert!(printed_front_read(3, true, false, false, false));
        assert!(!printed_front_read(3, true, false, true, false));
    }

    /// Lines read on seed 1000054's passport photo downscaled to 300 px wide (working pixels,
    /// 3.5 per original pixel): PASAPORTE read, the zone in view but not read. It was refused
    /// as "a passport without its machine-readable zone in view (the cover?)".
    #[test]
    fn a_passport_page_whose_zone_did_not_read_is_not_called_a_cover() {
        let line = |x0, y0, w, h, t, c| TextLine::at(x0, y0, w, h, t, c);
        let mut p = page::page_of(
            vec![
                line(140.0, 160.0, 300.0, 30.0, "PASAPORTE / PASSPORT", 0.9),
                line(147.0, 196.0, 212.0, 25.0, "REPURLICA EE CELOMBIA", 0.91),
                line(
                    135.0,
                    491.0,
                    552.0,
                    27.0,
                    "PICOLCHAVEZcSOMEICeZOECcCcCcCCCCCCCCCCCCeCec",
                    0.64,
                ),
                line(
                    132.0,
                    518.0,
                    558.0,
                    28.0,
                    "1754206104504000311513007192<<<<<<<<<<<<<<<0",
                    0.97,
                ),
            ],
            1050,
            1400,
        );
        p.scale = 3.5;
        assert!(page::find_mrz(&p).is_none());
        let (reason, detail) = not_a_document(&p, None);
        assert_eq!(reason, RetakeReason::Unreadable, "{detail}");
        assert_eq!(detail, "the machine-readable zone could not be read");
        // Its height is the zone line's, not the taller titles'.
        assert_eq!(p.zone_text_height_px(), Some(8.0));
    }

    #[test]
    fn today_is_a_plausible_date() {
        let t = system_today();
        assert!(t.year() >= 2024);
    }
}
