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

pub mod layout;

use crate::assets::AssetPaths;
use crate::barcode::{self, DecodedBarcode, Symbology};
use crate::ocr::{OcrEngine, OcrError, TextBox, TextLine};
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
use layout::{FieldBox, Grammar, SideLayout};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Reader errors (engine failures; a bad photo is never an error).
#[derive(Debug, thiserror::Error)]
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
    /// Rectification.
    pub rectify_ms: f64,
    /// Barcode decoding.
    pub barcode_ms: f64,
    /// Text detection.
    pub detect_ms: f64,
    /// Text recognition.
    pub recognize_ms: f64,
    /// Extraction and cross-checks.
    pub extract_ms: f64,
}

/// Everything the reader found on one photo. Holds PII: `Debug` shows only shapes.
#[derive(Clone)]
pub struct Analysis {
    /// Which template.
    pub document: DocumentKind,
    /// Which side.
    pub side: Side,
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
            .field("quality_ok", &self.quality.ok)
            .field("barcodes", &self.barcodes.len())
            .field("mrz", &self.mrz.is_some())
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

/// The local engine behind [`DocumentReader`]. Cheap to clone (shares the models).
#[derive(Debug, Clone)]
pub struct LocalDocumentReader {
    ocr: Arc<OcrEngine>,
    today: Option<Date>,
}

impl LocalDocumentReader {
    /// Loads the OCR models from `assets` (one inference thread: workers scale by process).
    pub fn load(assets: &AssetPaths) -> Result<Self, ReaderError> {
        Ok(Self {
            ocr: Arc::new(OcrEngine::load(assets, &ModelOptions::default())?),
            today: None,
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

    fn today(&self) -> Date {
        self.today.unwrap_or_else(system_today)
    }

    /// Runs the whole pipeline on one photo. A bad photo gives an `Ok` with a retake outcome.
    pub fn analyse(
        &self,
        bytes: &[u8],
        document: DocumentKind,
        side: Side,
    ) -> Result<Analysis, ReaderError> {
        let lay = layout::layout(document, side).ok_or(ReaderError::Unsupported(document, side))?;
        let mut timings = Timings::default();
        let t = Instant::now();
        let img = match quality::decode(bytes) {
            Ok(i) => i,
            Err(e) => {
                let outcome = DocumentOutcome::Retake {
                    reason: RetakeReason::UnsupportedMedia,
                    detail: e.to_string(),
                };
                return Ok(empty_analysis(document, side, None, outcome, timings));
            }
        };
        let report = quality::assess(&img);
        timings.quality_ms = ms(t);
        if let Some(issue) = report.retake() {
            let outcome = DocumentOutcome::Retake {
                reason: issue.reason,
                detail: issue.detail.clone(),
            };
            return Ok(empty_analysis(
                document,
                side,
                Some(report),
                outcome,
                timings,
            ));
        }
        let t = Instant::now();
        let card = quality::rectify(&img, &report.quad);
        timings.rectify_ms = ms(t);
        self.analyse_rectified(&card, lay, report, timings)
    }

    fn analyse_rectified(
        &self,
        card: &image::RgbImage,
        lay: &SideLayout,
        report: QualityReport,
        mut timings: Timings,
    ) -> Result<Analysis, ReaderError> {
        let (document, side) = (lay.document, lay.side);
        // Barcodes, restricted to what the template expects, searched in their region first.
        let t = Instant::now();
        let mut barcodes = Vec::new();
        if let Some(region) = lay.barcode {
            let expected = match document {
                DocumentKind::CoCedula | DocumentKind::ArDni => vec![Symbology::Pdf417],
                _ => vec![Symbology::Qr],
            };
            let gray = DynamicImage::ImageRgb8(card.clone()).to_luma8();
            let crop = crop_margin(&gray, region, 30);
            barcodes = barcode::decode(&crop, &expected);
            if barcodes.is_empty() {
                barcodes = barcode::decode(&gray, &expected);
            }
        }
        timings.barcode_ms = ms(t);

        // Text: detect everywhere, recognize only what a field or the MRZ band needs.
        let t = Instant::now();
        let boxes = self.ocr.detect(card)?;
        timings.detect_ms = ms(t);
        let t = Instant::now();
        let fields_of_side: Vec<&FieldBox> = lay.fields.iter().collect();
        let labels: Vec<String> = fields_of_side
            .iter()
            .filter(|f| !f.label.is_empty())
            .map(|f| fold_label(f.label))
            .collect();
        let mut lines = Vec::new();
        for b in &boxes {
            let in_field = fields_of_side
                .iter()
                .any(|f| inside(b, f.rect, FIELD_MARGIN));
            let in_mrz = lay.mrz.is_some_and(|(r, _)| inside(b, r, 10.0));
            if in_field || in_mrz {
                let line = self.ocr.recognize(card, b)?;
                // A label that strayed into a neighbouring value box is not a value.
                if !labels.contains(&fold_label(&line.text)) {
                    lines.push(line);
                }
            }
        }
        timings.recognize_ms = ms(t);

        let t = Instant::now();
        let mut printed: BTreeMap<String, String> = BTreeMap::new();
        let mut confidence: BTreeMap<String, f32> = BTreeMap::new();
        let mut grammar_ok: BTreeMap<String, bool> = BTreeMap::new();
        for fb in &fields_of_side {
            let mut in_box: Vec<&TextLine> = lines
                .iter()
                .filter(|l| inside(&l.bbox, fb.rect, FIELD_MARGIN))
                .collect();
            if in_box.is_empty() {
                continue;
            }
            in_box.sort_by(|a, b| a.bbox.x0.total_cmp(&b.bbox.x0));
            let raw = in_box
                .iter()
                .map(|l| l.text.trim())
                .collect::<Vec<_>>()
                .join(" ");
            let conf = in_box.iter().map(|l| l.confidence).fold(1.0f32, f32::min);
            let (value, ok) = repair(fb.grammar, &raw);
            for (key, v) in canonical_printed(document, fb.key, &value) {
                let merged = match printed.get(key) {
                    Some(prev) if key == "surnames" || key == "address" => {
                        let sep = if key == "address" { ", " } else { " " };
                        format!("{prev}{sep}{v}")
                    }
                    _ => v,
                };
                printed.insert(key.to_owned(), merged);
                let c = confidence.get(key).copied().unwrap_or(1.0).min(conf);
                confidence.insert(key.to_owned(), c);
                let g = grammar_ok.get(key).copied().unwrap_or(true) && ok;
                grammar_ok.insert(key.to_owned(), g);
            }
        }

        // MRZ: the lines in the band, top to bottom, spaces removed, upper case.
        let mrz = lay.mrz.and_then(|(band, n)| {
            let mut rows: Vec<&TextLine> = lines
                .iter()
                .filter(|l| inside(&l.bbox, band, 10.0))
                .collect();
            rows.sort_by(|a, b| a.bbox.y0.total_cmp(&b.bbox.y0));
            let text: Vec<String> = rows
                .iter()
                .map(|l| mrz_chars(&l.text))
                .filter(|s| looks_like_mrz(s))
                .map(|s| fit_mrz_line(&s, 30))
                .collect();
            if text.len() < n {
                return None;
            }
            let mut rows: Vec<String> = text[text.len() - n..].to_vec();
            if n == 3 {
                // TD1 line 3 is only the name field: a digit there is a letter misread, and no
                // check digit covers it.
                rows[2] = rows[2].chars().map(digit_to_letter).collect();
            }
            mrz::parse(&rows.join("\n")).ok()
        });

        let payload = barcodes
            .iter()
            .find(|b| b.symbology == Symbology::Pdf417)
            .and_then(|b| match document {
                DocumentKind::CoCedula => payload::co_cedula_pdf417(&b.bytes).ok(),
                DocumentKind::ArDni => payload::ar_dni_pdf417(&b.bytes).ok(),
                _ => None,
            });

        // Cross-checks by the document crate, limited to what this side carries.
        let tkind = template_kind(document);
        let tside = match side {
            Side::Front => template::Side::Front,
            Side::Back => template::Side::Back,
        };
        let mut fields = BTreeMap::new();
        let mut checks = Vec::new();
        let mut problem = None;
        if let Some(tkind) = tkind {
            let tpl = template::template(tkind);
            let side_fields: Vec<&'static str> = tpl.side(tside).map(|f| f.name).collect();
            let obs = template::Observations {
                printed: Some(&printed),
                mrz: mrz.as_ref(),
                barcode: payload.as_ref(),
            };
            let verdicts = template::cross_check(tkind, &obs, &template::Policy::new(self.today()));
            // The INE prints its MRZ sex in Spanish (H hombre, M mujer). The document crate
            // leaves an `M` undecided without the front's CURP; on the back alone the letter is
            // read the Spanish way, as the template declares for this card.
            let ine_sex = match mrz.as_ref().and_then(|m| m.national()) {
                Some(mrz::NationalData::MxIne(ine)) => match ine.sex_letter.as_str() {
                    "H" => Some("M"),
                    "M" => Some("F"),
                    _ => None,
                },
                _ => None,
            };
            for c in &verdicts.checks {
                if c.field.is_some_and(|f| !side_fields.contains(&f)) {
                    continue;
                }
                let mut passed = c.passed;
                let mut detail = c.detail.clone();
                if !passed && c.name == "present.sex" && ine_sex.is_some() {
                    passed = true;
                    detail = "sex read from the INE MRZ as Spanish (H/M)".into();
                }
                if !passed && problem.is_none() {
                    problem = c.problem;
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
                        confidence: if mrz.as_ref().is_some_and(|m| m.valid()) {
                            0.99
                        } else {
                            0.5
                        },
                        source: FieldSource::Mrz,
                    },
                );
            }
            for (k, (v, source)) in verdicts.values() {
                let (src, conf) = match source {
                    template::Source::Mrz => (
                        FieldSource::Mrz,
                        if mrz.as_ref().is_some_and(|m| m.valid()) {
                            0.99
                        } else {
                            0.5
                        },
                    ),
                    template::Source::Barcode => (FieldSource::Barcode, 1.0),
                    template::Source::Printed => {
                        let c = confidence.get(&k).copied().unwrap_or(0.5);
                        let g = grammar_ok.get(&k).copied().unwrap_or(true);
                        (FieldSource::Printed, if g { c } else { c * 0.5 })
                    }
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
        }
        // The INE's electoral section travels in the MRZ's optional data.
        if let Some(mrz::NationalData::MxIne(ine)) = mrz.as_ref().and_then(|m| m.national())
            && let Some(section) = ine.section
        {
            fields
                .entry("section".to_owned())
                .or_insert(ExtractedField {
                    value: section,
                    confidence: if mrz.as_ref().is_some_and(|m| m.valid()) {
                        0.99
                    } else {
                        0.5
                    },
                    source: FieldSource::Mrz,
                });
        }
        // Printed fields the template does not model (address, places) are still reported.
        for (k, v) in &printed {
            if !fields.contains_key(k)
                && matches!(
                    k.as_str(),
                    "address" | "birth_place" | "issue_place" | "section"
                )
            {
                fields.insert(
                    k.clone(),
                    ExtractedField {
                        value: v.clone(),
                        confidence: confidence.get(k).copied().unwrap_or(0.5),
                        source: FieldSource::Printed,
                    },
                );
            }
        }

        // The portrait: the template's box on the rectified card.
        let portrait = lay.portrait.and_then(|(x, y, w, h)| {
            let crop = image::imageops::crop_imm(card, x, y, w, h).to_image();
            let mut out = Vec::new();
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            DynamicImage::ImageRgb8(crop)
                .write_with_encoder(enc)
                .ok()
                .map(|_| out)
        });

        let required_missing = lay.mrz.is_some() && mrz.is_none()
            || lay.barcode.is_some() && document == DocumentKind::CoCedula && payload.is_none()
            || fields.is_empty();
        let outcome = if required_missing {
            DocumentOutcome::Retake {
                reason: RetakeReason::Unreadable,
                detail: "the machine-readable zone, barcode or printed fields could not be read"
                    .into(),
            }
        } else {
            match problem.and_then(|p| p.retake_reason()) {
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
            }
        };
        timings.extract_ms = ms(t);
        Ok(Analysis {
            document,
            side,
            quality: report,
            barcodes,
            mrz,
            payload,
            fields,
            checks,
            outcome,
            portrait,
            lines,
            timings,
        })
    }
}

#[async_trait]
impl DocumentReader for LocalDocumentReader {
    fn capabilities(&self) -> VisionCapabilities {
        VisionCapabilities {
            documents: layout::supported().collect(),
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

fn template_kind(d: DocumentKind) -> Option<template::DocumentKind> {
    Some(match d {
        DocumentKind::MxIne => template::DocumentKind::MxIne,
        DocumentKind::CoCedula => template::DocumentKind::CoCedula,
        DocumentKind::CoCedulaDigital => template::DocumentKind::CoCedulaDigital,
        DocumentKind::PeDni => template::DocumentKind::PeDniBlue,
        DocumentKind::ArDni => template::DocumentKind::ArDni,
        DocumentKind::ClCedula => template::DocumentKind::ClCedula,
        _ => return None,
    })
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// How far (rectified pixels) a line's centre may fall outside a field box and still belong to
/// it: rectification leaves a few pixels of error, and labels sit about 20 px away.
const FIELD_MARGIN: f32 = 8.0;

/// Labels compared without case, accents, spaces or punctuation.
fn fold_label(s: &str) -> String {
    s.to_uppercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c {
            'Á' => 'A',
            'É' => 'E',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            c => c,
        })
        .collect()
}

fn inside(b: &TextBox, (x, y, w, h): (u32, u32, u32, u32), margin: f32) -> bool {
    let (cx, cy) = b.center();
    cx >= x as f32 - margin
        && cx <= (x + w) as f32 + margin
        && cy >= y as f32 - margin
        && cy <= (y + h) as f32 + margin
}

fn crop_margin(
    gray: &image::GrayImage,
    (x, y, w, h): (u32, u32, u32, u32),
    m: u32,
) -> image::GrayImage {
    let x0 = x.saturating_sub(m);
    let y0 = y.saturating_sub(m);
    let x1 = (x + w + m).min(gray.width());
    let y1 = (y + h + m).min(gray.height());
    image::imageops::crop_imm(gray, x0, y0, x1 - x0, y1 - y0).to_image()
}

/// Upper-cases an OCR'd MRZ line, drops spaces and maps look-alike letters the recognizer's
/// large dictionary may return (Greek and Cyrillic capitals, guillemets) to the MRZ alphabet.
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
            '«' | '‹' | '〈' | '＜' => '<',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// An MRZ line: mostly `A–Z 0–9 <`, at least 25 characters (TD1 lines are 30).
fn looks_like_mrz(s: &str) -> bool {
    let n = s.chars().count();
    let ok = s
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '<')
        .count();
    (25..=34).contains(&n) && ok * 10 >= n * 9
}

/// Pads with `<` or trims an OCR'd MRZ line to its nominal length (the recognizer sometimes
/// drops or adds a filler at the end of a long run of `<`).
fn fit_mrz_line(s: &str, n: usize) -> String {
    let mut s: String = s
        .chars()
        .map(|c| if c == '«' || c == '‹' { '<' } else { c })
        .collect();
    while s.chars().count() < n {
        s.push('<');
    }
    s.chars().take(n).collect()
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

/// Maps a layout field to the document crate's canonical printed fields.
fn canonical_printed(
    document: DocumentKind,
    key: &str,
    value: &str,
) -> Vec<(&'static str, String)> {
    use template::field::*;
    let v = value.to_owned();
    match key {
        "first_surname" | "second_surname" => vec![(SURNAMES, v)],
        "surnames" => vec![(SURNAMES, v)],
        "given_names" => vec![(GIVEN_NAMES, v)],
        "address_1" | "address_2" | "address_3" => vec![("address", v)],
        "clave_elector" => vec![(CLAVE_ELECTOR, v)],
        "curp" => vec![(CURP, v)],
        "birth_date" => vec![(BIRTH_DATE, v)],
        "sex" => vec![(SEX, v)],
        "section" => vec![("section", v)],
        "validity" => {
            let end: String = value
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            vec![(EXPIRY_DATE, end)]
        }
        "document_number" if document == DocumentKind::PeDni => {
            let n: String = value.chars().take(8).collect();
            let c: String = value.chars().skip(8).take(1).collect();
            vec![(DOCUMENT_NUMBER, n), (CHECK_CHARACTER, c)]
        }
        "document_number" => vec![(DOCUMENT_NUMBER, v)],
        "blood_type" => vec![(BLOOD_TYPE, v)],
        "issue_date" => vec![(ISSUE_DATE, v)],
        "expiry_date" => vec![(EXPIRY_DATE, v)],
        "birth_place" => vec![("birth_place", v)],
        "issue" => {
            // `DD-MMM-YYYY PLACE`.
            let mut parts = value.splitn(2, ' ');
            let date = parts.next().unwrap_or("").to_owned();
            let (d, _) = repair(Grammar::DateDmmmY, &date);
            vec![
                (ISSUE_DATE, d),
                ("issue_place", parts.next().unwrap_or("").to_owned()),
            ]
        }
        _ => vec![],
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
    let r = LocalDocumentReader::from_default_assets().map_err(|e| e.to_string())?;
    *g = Some(r.clone());
    Ok(r)
}

/// The default document for a country (`MX` → INE, `CO` → cédula, `PE` → DNI).
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
/// Without a country, every supported template is tried and the one with the most fields
/// wins; without a side, both are tried. `Err` is a usage error or an engine failure (exit 2).
pub fn inspect_image(
    image: &[u8],
    country: Option<&str>,
    side: Option<&str>,
) -> Result<serde_json::Value, String> {
    let docs: Vec<DocumentKind> = match country {
        Some(c) => vec![
            document_for_country(c)
                .ok_or_else(|| format!("unsupported country {c:?} (MX, CO, PE)"))?,
        ],
        None => vec![
            DocumentKind::MxIne,
            DocumentKind::CoCedula,
            DocumentKind::PeDni,
        ],
    };
    let sides: Vec<Side> = match side.map(|s| s.trim().to_ascii_lowercase()) {
        Some(s) if s == "front" => vec![Side::Front],
        Some(s) if s == "back" => vec![Side::Back],
        Some(s) => return Err(format!("side must be front or back, not {s:?}")),
        None => vec![Side::Front, Side::Back],
    };
    let img = quality::decode(image).map_err(|e| e.to_string())?;
    let report = quality::assess(&img);
    let reader = shared_reader()?;
    let mut best: Option<Analysis> = None;
    if report.ok {
        let card = quality::rectify(&img, &report.quad);
        for d in &docs {
            for s in &sides {
                let lay = layout::layout(*d, *s).ok_or("no template")?;
                let a = reader
                    .analyse_rectified(&card, lay, report.clone(), Timings::default())
                    .map_err(|e| e.to_string())?;
                let score = |a: &Analysis| {
                    a.fields.len() + a.mrz.is_some() as usize * 5 + a.barcodes.len() * 3
                };
                if best.as_ref().is_none_or(|b| score(&a) > score(b)) {
                    best = Some(a);
                }
            }
        }
    }
    let mut quality_json = serde_json::to_value(&report.metrics).map_err(|e| e.to_string())?;
    quality_json["ok"] = report.ok.into();
    quality_json["issues"] = report
        .issues
        .iter()
        .map(|i| serde_json::json!({"reason": i.reason.as_str(), "detail": i.detail}))
        .collect::<Vec<_>>()
        .into();
    let mut out = serde_json::json!({
        "quality": quality_json,
        "barcodes": [],
        "mrz": null,
        "fields": {},
        "checks": [],
    });
    if let Some(a) = best {
        out["document"] = serde_json::to_value(a.document).map_err(|e| e.to_string())?;
        out["side"] = serde_json::to_value(a.side).map_err(|e| e.to_string())?;
        out["barcodes"] = a
            .barcodes
            .iter()
            .map(DecodedBarcode::to_json)
            .collect::<Vec<_>>()
            .into();
        if let Some(m) = &a.mrz {
            let mut j = serde_json::to_value(m).map_err(|e| e.to_string())?;
            j["valid"] = m.valid().into();
            out["mrz"] = j;
        }
        if let Some(p) = &a.payload {
            out["payload"] = serde_json::to_value(p).map_err(|e| e.to_string())?;
        }
        out["fields"] = serde_json::to_value(&a.fields).map_err(|e| e.to_string())?;
        out["checks"] = serde_json::to_value(&a.checks).map_err(|e| e.to_string())?;
        out["outcome"] = serde_json::to_value(&a.outcome).map_err(|e| e.to_string())?;
        out["portrait_found"] = a.portrait.is_some().into();
    } else if let Some(i) = report.retake() {
        out["outcome"] = serde_json::json!({"outcome": "retake", "reason": i.reason.as_str(), "detail": i.detail});
    }
    Ok(out)
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

    #[test]
    fn today_is_a_plausible_date() {
        let t = system_today();
        assert!(t.year() >= 2024);
    }
}
