//! Evaluation of the reader on real specimen images that our generator did not draw: the
//! `documents-dev` folder (see its README; the images are never copied into the repository).
//! Each image's `labels.json` entry gives the printed values and MRZ lines as they appear on
//! the document; the reader is run without being told the country or the side.

use kyc_flow_core::evidence::DocumentOutcome;
use kyc_flow_vision::reader::{Analysis, LocalDocumentReader, ReaderError, models};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default location of the development set on the project's machines.
pub const DEFAULT_DIR: &str = "/work/shared/data/documents-dev";

/// The development set's folder: `KYC_FLOW_DOCUMENTS_DEV`, else [`DEFAULT_DIR`]; `None` when
/// it has no `labels.json` (callers skip).
pub fn dev_dir() -> Option<PathBuf> {
    let d = std::env::var_os("KYC_FLOW_DOCUMENTS_DEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    d.join("labels.json").is_file().then_some(d)
}

/// One image's result, on the real specimens or on the randomised synthetic set (which builds
/// the same rows, so both print through [`model_table`]). Holds no personal data beyond counts
/// and names of fields.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// File name (or the synthetic sample's model, side and seed).
    pub file: String,
    /// The row of the per-model table it counts in (the expected model here; the generator's
    /// model and side for the synthetic set).
    pub group: String,
    /// The model expected from the label (`mx-ine`, `passport`, …).
    pub expected_model: String,
    /// A document was found (a model recognised or a machine-readable zone read).
    pub found: bool,
    /// The model read.
    pub model: Option<String>,
    /// MRZ lines in the label / read exactly.
    pub mrz_lines: (usize, usize),
    /// Labelled printed fields / read exactly (after normalization).
    pub fields: (usize, usize),
    /// Names of the labelled fields that were missed or wrong.
    pub missed: Vec<String>,
    /// A barcode in the label / decoded with the labelled text.
    pub barcode: (usize, usize),
    /// Whether the photo was accepted (no retake).
    pub accepted: bool,
    /// The retake reason, if any.
    pub retake: Option<String>,
    /// The retake's detail (what was measured or missing; no personal data).
    pub retake_detail: Option<String>,
    /// The quality gate found no defect.
    pub quality_ok: bool,
    /// The retake the photo deserves (a defect was applied), `None` for a readable photo
    /// (every specimen).
    pub expected_retake: Option<String>,
    /// Milliseconds for the whole pipeline.
    pub ms: f64,
}

fn expected_model(name: &str, label: &Value) -> String {
    let country = label["country"].as_str().unwrap_or("");
    match country {
        "MX" => "mx-ine".into(),
        "CO" => "co-cedula-digital".into(),
        "PE" => "pe-dni".into(),
        _ if name.contains("td3") => "passport".into(),
        _ if name.contains("td2") => "id-card-td2".into(),
        _ => "id-card-td1".into(),
    }
}

/// Compares a labelled value with a read one: case, accents, punctuation and spacing ignored;
/// dates compared as dates; numbers compared without separators.
pub fn same_value(want: &str, got: &str) -> bool {
    let norm = |s: &str| -> String {
        models::fold(s)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    if norm(want) == norm(got) {
        return true;
    }
    let as_date = |s: &str| {
        kyc_flow_documents::Date::parse_iso(s.trim())
            .map(|d| d.to_string())
            .or_else(|| models::repair_date(s).map(|(d, _)| d))
            .and_then(|d| {
                kyc_flow_documents::template::parse_printed_date(&d).map(|x| x.to_string())
            })
    };
    if let (Some(a), Some(b)) = (as_date(want), as_date(got))
        && a == b
    {
        // A date followed by a place: the place must agree too.
        let tail = |s: &str| {
            models::repair_date(s)
                .map(|(_, r)| norm(&r))
                .unwrap_or_default()
        };
        return tail(want).is_empty() || tail(got).is_empty() || tail(want) == tail(got);
    }
    let digits = |s: &str| -> String { s.chars().filter(|c| c.is_ascii_alphanumeric()).collect() };
    !digits(want).is_empty() && digits(want) == digits(got)
}

/// The reader's field(s) for a labelled field name.
fn read_value(a: &Analysis, model: &str, key: &str, label: &Value) -> Option<String> {
    let f = |k: &str| a.fields.get(k).map(|v| v.value.clone());
    match key {
        "apellido_paterno" | "apellido_materno" => {
            // Both surnames are one field: count each by word.
            let s = f("surnames")?;
            let want = label["fields"][key].as_str().unwrap_or("");
            s.split_whitespace()
                .find(|w| same_value(want, w))
                .map(str::to_owned)
        }
        "apellidos" => f("surnames"),
        "nombres" => f("given_names"),
        "clave_elector" => f("clave_elector"),
        "curp" => f("curp"),
        "fecha_nacimiento" => f("birth_date"),
        "sexo" => {
            let s = f("sex")?;
            // The INE prints M for mujer; the reader reports ISO letters.
            Some(if model == "mx-ine" {
                match s.as_str() {
                    "F" => "M".into(),
                    "M" => "H".into(),
                    _ => s,
                }
            } else {
                s
            })
        }
        "domicilio" => f("address"),
        "ano_registro" => f("registration_year"),
        "estado" => f("state"),
        "municipio" => f("municipality"),
        "seccion" => f("section"),
        "localidad" => f("locality"),
        // Years: the reader reports the vigencia as the date it ends (31 December).
        "emision" => f("issue_year").map(|y| y.chars().take(4).collect()),
        "vigencia" => f("expiry_date").map(|y| y.chars().take(4).collect()),
        "nuip" => f("nuip").or_else(|| f("citizen_id")),
        "nacionalidad" => f("nationality"),
        "estatura" => f("height"),
        "gs_rh" => f("blood_type"),
        "lugar_nacimiento" => f("birth_place"),
        "fecha_lugar_expedicion" => f("issue"),
        "fecha_expiracion" => f("expiry").or_else(|| f("expiry_date")),
        _ => None,
    }
}

/// Fields of the labels that are data printed on the document (not provenance notes).
fn comparable(key: &str, v: &str) -> bool {
    !matches!(
        key,
        "doc_number" | "dep_code" | "mun_code" | "lugar" | "registrador"
    ) && !v.contains('(')
        || key == "lugar_nacimiento"
}

/// Runs the reader on every labelled image of `dir`.
pub fn evaluate(
    reader: &LocalDocumentReader,
    dir: &Path,
) -> Result<Vec<ImageResult>, Box<dyn std::error::Error>> {
    evaluate_at(reader, dir, None)
}

/// An image file downscaled in memory to `width` pixels wide (aspect kept; without a width, or
/// for a narrower image, the bytes as they are), as a web thumbnail of it would be: a
/// triangle-filtered resize, saved as PNG (no compression artefact added, so only the size
/// changes).
pub fn downscaled(
    bytes: Vec<u8>,
    width: Option<u32>,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let Some(width) = width else {
        return Ok(bytes);
    };
    let img = image::load_from_memory(&bytes)?;
    if img.width() <= width {
        return Ok(bytes);
    }
    let h = ((img.height() as f64 * width as f64 / img.width() as f64).round() as u32).max(1);
    let small = img.resize_exact(width, h, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Runs the reader on every labelled image of `dir`, each first downscaled to `width` pixels
/// wide when one is given ([`downscaled`]: the thumbnails of issue 10).
pub fn evaluate_at(
    reader: &LocalDocumentReader,
    dir: &Path,
    width: Option<u32>,
) -> Result<Vec<ImageResult>, Box<dyn std::error::Error>> {
    let labels: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.join("labels.json"))?)?;
    let mut out = Vec::new();
    for (file, label) in &labels {
        let bytes = downscaled(std::fs::read(dir.join(file))?, width)?;
        let t = std::time::Instant::now();
        let a = reader
            .read_photo(&bytes)
            .map_err(|e: ReaderError| e.to_string())?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let want_model = expected_model(file, label);
        let mrz_want: Vec<String> = label["mrz"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mrz_got: Vec<String> = a.mrz.as_ref().map(|m| m.lines.clone()).unwrap_or_default();
        let mrz_ok = mrz_want
            .iter()
            .enumerate()
            .filter(|(i, l)| mrz_got.get(*i) == Some(*l))
            .count();
        let mut fields = (0, 0);
        let mut missed = Vec::new();
        // Printed fields are scored on the side that prints them (the back's label lists what
        // its source parser derived from the MRZ, which the MRZ score covers).
        if label["side"].as_str() != Some("back")
            && let Some(obj) = label["fields"].as_object()
        {
            for (k, v) in obj {
                let Some(want) = v.as_str() else { continue };
                if !comparable(k, want) {
                    continue;
                }
                fields.0 += 1;
                match read_value(&a, &want_model, k, label) {
                    Some(got) if same_value(want, &got) => fields.1 += 1,
                    _ => missed.push(k.clone()),
                }
            }
        }
        let barcode = match label["barcode"]["text"].as_str() {
            Some(t) => (
                1,
                usize::from(a.barcodes.iter().any(|b| b.text.as_deref() == Some(t))),
            ),
            None => (0, 0),
        };
        let (accepted, retake, retake_detail) = outcome_parts(&a.outcome);
        out.push(ImageResult {
            file: file.clone(),
            group: want_model.clone(),
            expected_model: want_model,
            found: a.model.is_some() || a.mrz.is_some(),
            model: a.model.map(str::to_owned),
            mrz_lines: (mrz_want.len(), mrz_ok),
            fields,
            missed,
            barcode,
            accepted,
            retake,
            retake_detail,
            quality_ok: a.quality.ok,
            expected_retake: None,
            ms,
        });
    }
    Ok(out)
}

/// Whether an outcome is an acceptance, its retake reason and the retake's detail.
pub fn outcome_parts(o: &DocumentOutcome) -> (bool, Option<String>, Option<String>) {
    match o {
        DocumentOutcome::Accepted { .. } => (true, None, None),
        DocumentOutcome::Retake { reason, detail } => (
            false,
            Some(reason.as_str().to_owned()),
            Some(detail.clone()),
        ),
        #[allow(unreachable_patterns)]
        _ => (false, None, None),
    }
}

/// Markdown tables: per image, then per model.
pub fn report(results: &[ImageResult]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| image | model expected | model read | MRZ lines exact | fields exact | barcode | outcome | quality gate clean | ms |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}/{} | {}/{}{} | {} | {} | {} | {:.0} |",
            r.file,
            r.expected_model,
            r.model.as_deref().unwrap_or("—"),
            r.mrz_lines.1,
            r.mrz_lines.0,
            r.fields.1,
            r.fields.0,
            if r.missed.is_empty() {
                String::new()
            } else {
                format!(" (missed: {})", r.missed.join(", "))
            },
            if r.barcode.0 == 0 {
                "—".to_owned()
            } else {
                format!("{}/{}", r.barcode.1, r.barcode.0)
            },
            r.retake
                .as_deref()
                .map_or("accepted".to_owned(), |x| format!(
                    "retake: {x} ({})",
                    r.retake_detail.as_deref().unwrap_or("")
                )),
            r.quality_ok,
            r.ms
        );
    }
    s.push('\n');
    s.push_str(&model_table(results));
    s
}

/// Whether the photo was asked again for a reason it does not deserve: a readable photo (or a
/// defective one) sent back for anything but its defect. An expired document's refusal is
/// right (the specimens are expired).
pub fn wrong_retake(r: &ImageResult) -> bool {
    !r.accepted
        && r.retake.as_deref() != Some("expired")
        && r.retake.as_deref() != r.expected_retake.as_deref()
}

/// The per-model table (one row per [`ImageResult::group`], then `all`): document found, model
/// right, MRZ lines and fields exact, barcodes decoded, quality verdict agreeing with the
/// expected one, wrong retakes, median milliseconds per photo.
pub fn model_table(results: &[ImageResult]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut by: BTreeMap<&str, Vec<&ImageResult>> = BTreeMap::new();
    for r in results {
        by.entry(r.group.as_str()).or_default().push(r);
    }
    let _ = writeln!(
        s,
        "| model | images | document found | model right | MRZ lines exact | fields exact | barcode decoded | quality verdict agrees | wrong retakes | median ms |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for (m, rs) in by
        .iter()
        .map(|(m, r)| (m.to_string(), r.clone()))
        .chain(std::iter::once((
            "all".to_owned(),
            results.iter().collect(),
        )))
    {
        let n = rs.len();
        let found = rs.iter().filter(|r| r.found).count();
        let right = rs
            .iter()
            .filter(|r| r.model.as_deref() == Some(r.expected_model.as_str()))
            .count();
        let sum = |f: &dyn Fn(&ImageResult) -> (usize, usize)| {
            rs.iter().fold((0, 0), |acc, r| {
                let (a, b) = f(r);
                (acc.0 + a, acc.1 + b)
            })
        };
        let mrz = sum(&|r| r.mrz_lines);
        let fl = sum(&|r| r.fields);
        let bc = sum(&|r| r.barcode);
        let q = rs
            .iter()
            .filter(|r| r.quality_ok == r.expected_retake.is_none())
            .count();
        let wrong = rs.iter().filter(|r| wrong_retake(r)).count();
        let mut ms: Vec<f64> = rs.iter().map(|r| r.ms).collect();
        ms.sort_by(f64::total_cmp);
        let med = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "| {m} | {n} | {found}/{n} | {right}/{n} | {}/{} | {}/{} | {} | {q}/{n} | {wrong}/{n} | {med:.0} |",
            mrz.1,
            mrz.0,
            fl.1,
            fl.0,
            if bc.0 == 0 {
                "—".to_owned()
            } else {
                format!("{}/{}", bc.1, bc.0)
            },
        );
    }
    s
}
