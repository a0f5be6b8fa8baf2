//! Synthetic ID card samples, clearly marked SPECIMEN, for tests, benchmarks, the evaluation
//! binary and the demo.
//!
//! A sample is a made-up identity printed in the layout of a Mexican INE, a Colombian cédula or
//! a Peruvian DNI (the generator's own table, [`layout`]): printed fields in DejaVu Sans, a real TD1 MRZ in
//! OCR-B built by the document crate (check digits right), a PDF417 or QR payload from rxing's
//! writers, and a portrait cut from the public-domain test photos. The card is then placed in a
//! photographed scene and optionally perturbed the way users' photos go wrong (blur, glare,
//! darkness, skew, cropping, a card too far away, WhatsApp's re-encoding, a photo of a printout
//! or of a screen). Everything is deterministic from the seed, so failures reproduce.
//!
//! The identities are random combinations of common Spanish names and numbers with valid
//! check digits; any resemblance to a real person's data is a coincidence of the generator.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{DynamicImage, Rgb, RgbImage, imageops::FilterType};
use imageproc::geometric_transformations::Projection;
use kyc_flow_core::evidence::{DocumentKind, RetakeReason, Side};
use kyc_flow_documents::mrz::build;
use kyc_flow_vision::assets::AssetPaths;
use kyc_flow_vision::barcode;
use kyc_flow_vision::quality::{CARD_HEIGHT, CARD_WIDTH};
use layout::{FieldBox, LABEL_PX, SideLayout, VALUE_PX};
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub mod layout;

/// The card kinds the generator prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleKind {
    /// Mexico, INE credential.
    MxIne,
    /// Colombia, yellow cédula de ciudadanía.
    CoCedula,
    /// Peru, DNI.
    PeDni,
}

impl SampleKind {
    /// Every kind.
    pub const ALL: [SampleKind; 3] = [Self::MxIne, Self::CoCedula, Self::PeDni];

    /// The core's document kind.
    pub fn document(self) -> DocumentKind {
        match self {
            Self::MxIne => DocumentKind::MxIne,
            Self::CoCedula => DocumentKind::CoCedula,
            Self::PeDni => DocumentKind::PeDni,
        }
    }

    /// ISO country code.
    pub fn country(self) -> &'static str {
        match self {
            Self::MxIne => "MX",
            Self::CoCedula => "CO",
            Self::PeDni => "PE",
        }
    }

    /// `mx-ine`, `co-cedula`, `pe-dni`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "mx-ine" | "mx" | "ine" => Some(Self::MxIne),
            "co-cedula" | "co" | "cedula" => Some(Self::CoCedula),
            "pe-dni" | "pe" | "dni" => Some(Self::PeDni),
            _ => None,
        }
    }
}

/// What goes wrong with the photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perturbation {
    /// A good photo (mild perspective, JPEG q90).
    Clean,
    /// Out of focus (Gaussian σ≈5 px at 2000 px).
    Blur,
    /// A specular highlight over the card.
    Glare,
    /// Under-exposed.
    Dark,
    /// Card rotated 7–9° in the frame.
    Skew,
    /// A third of the card out of the frame.
    Crop,
    /// The card far away (a fifth of the frame's width).
    Small,
    /// WhatsApp's re-encoding: long side 1600 px, JPEG quality 75.
    WhatsApp,
    /// A photo of a paper printout of the card (washed colours, halftone, paper texture).
    PrintedPhoto,
    /// A photo of the card shown on a screen (moiré, pixel grid, blue cast).
    ScreenReplay,
}

impl Perturbation {
    /// Every perturbation.
    pub const ALL: [Perturbation; 10] = [
        Self::Clean,
        Self::Blur,
        Self::Glare,
        Self::Dark,
        Self::Skew,
        Self::Crop,
        Self::Small,
        Self::WhatsApp,
        Self::PrintedPhoto,
        Self::ScreenReplay,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Blur => "blur",
            Self::Glare => "glare",
            Self::Dark => "dark",
            Self::Skew => "skew",
            Self::Crop => "crop",
            Self::Small => "small",
            Self::WhatsApp => "whatsapp",
            Self::PrintedPhoto => "printed_photo",
            Self::ScreenReplay => "screen_replay",
        }
    }

    /// Parses [`Perturbation::as_str`] names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim().to_ascii_lowercase().replace('-', "_"))
    }

    /// The retake reason the quality gate should give for this perturbation.
    pub fn expected_retake(self) -> Option<RetakeReason> {
        match self {
            Self::Blur => Some(RetakeReason::Blur),
            Self::Glare => Some(RetakeReason::Glare),
            Self::Dark => Some(RetakeReason::TooDark),
            Self::Crop => Some(RetakeReason::Cropped),
            Self::Small => Some(RetakeReason::TooSmall),
            _ => None,
        }
    }
}

/// A generated photo and its ground truth. PII-free by construction (made-up data), but the
/// `Debug` output stays short.
#[derive(Clone)]
pub struct Sample {
    /// Which card.
    pub kind: SampleKind,
    /// Which side.
    pub side: Side,
    /// The encoded photo (JPEG).
    pub image: Vec<u8>,
    /// The fields a perfect reader returns for this side, by canonical name.
    pub truth: BTreeMap<String, String>,
    /// The MRZ lines, when the side has one.
    pub mrz: Option<Vec<String>>,
    /// The barcode payload, when the side has one.
    pub barcode: Option<Vec<u8>>,
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("kind", &self.kind)
            .field("side", &self.side)
            .field("bytes", &self.image.len())
            .field("truth", &self.truth.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a sample could not be generated (fonts missing): permanent until assets are fetched.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A font file is missing or unreadable.
    #[error("font unavailable: {0}")]
    Font(String),
    /// Encoding the image failed.
    #[error("image encoding failed: {0}")]
    Encode(#[from] image::ImageError),
    /// A barcode did not encode.
    #[error(transparent)]
    Barcode(#[from] barcode::BarcodeError),
    /// The randomised layout could not fit a card's fields even at the smallest text size.
    #[error("layout failed: {0}")]
    Layout(String),
}

/// Library entry for the demo and the CLI: one JPEG photo of a SPECIMEN card.
///
/// # Panics
/// When the fonts are missing (run `scripts/fetch-assets.sh`); use [`generate`] to get an error
/// instead.
pub fn generate_sample(
    kind: SampleKind,
    side: Side,
    seed: u64,
    perturbation: Perturbation,
) -> Vec<u8> {
    match generate(kind, side, seed, perturbation) {
        Ok(s) => s.image,
        Err(e) => panic!("synthetic sample generation failed: {e}"),
    }
}

/// Generates one sample with its ground truth.
pub fn generate(
    kind: SampleKind,
    side: Side,
    seed: u64,
    perturbation: Perturbation,
) -> Result<Sample, SynthError> {
    let fonts = fonts()?;
    let id = Identity::new(seed);
    let mut rng =
        Rng::new(seed ^ 0x5eed_cafe ^ ((side as u64) << 40) ^ ((perturbation as u64) << 48));
    let Some(lay) = layout::layout(kind.document(), side) else {
        unreachable!("every SampleKind has both sides in the layout table")
    };
    let (card, mut truth, mrz, payload) = render_card(kind, side, lay, &id, fonts)?;
    // Names longer than the TD1 name field are truncated on the card itself: the truth is what
    // the zone holds, as the document crate reads it.
    if let Some(parsed) = mrz
        .as_ref()
        .and_then(|l| kyc_flow_documents::mrz::parse(&l.join("\n")).ok())
    {
        truth.insert("surnames".into(), parsed.fields.surname.clone());
        truth.insert("given_names".into(), parsed.fields.given_names.clone());
    }
    let scene = compose_scene(&card, perturbation, &mut rng);
    let (scene, quality) = match perturbation {
        Perturbation::WhatsApp => (
            image::imageops::resize(&scene, 1600, 1200, FilterType::Triangle),
            75,
        ),
        _ => (scene, 90),
    };
    let mut image = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut image, quality);
    DynamicImage::ImageRgb8(scene).write_with_encoder(enc)?;
    Ok(Sample {
        kind,
        side,
        image,
        truth,
        mrz,
        barcode: payload,
    })
}

/// Renders the upright card only (no scene, no perturbation), for tests and figures.
pub fn render_upright(kind: SampleKind, side: Side, seed: u64) -> Result<RgbImage, SynthError> {
    let fonts = fonts()?;
    let id = Identity::new(seed);
    let lay = layout::layout(kind.document(), side).expect("layout exists for every sample kind");
    Ok(render_card(kind, side, lay, &id, fonts)?.0)
}

// ---------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 11) as f32 / (1u64 << 53) as f32
    }
    pub(crate) fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

const SURNAMES: &[&str] = &[
    "NÚÑEZ",
    "PEÑA",
    "MUÑOZ",
    "GARCÍA",
    "HERNÁNDEZ",
    "LÓPEZ",
    "MARTÍNEZ",
    "GONZÁLEZ",
    "RODRÍGUEZ",
    "PÉREZ",
    "SÁNCHEZ",
    "RAMÍREZ",
    "TORRES",
    "FLORES",
    "RIVERA",
    "GÓMEZ",
    "DÍAZ",
    "CRUZ",
    "MORALES",
    "ORTIZ",
    "GUTIÉRREZ",
    "CHÁVEZ",
    "RAMOS",
    "CASTAÑEDA",
    "IBÁÑEZ",
    "ZÚÑIGA",
    "QUIÑONES",
    "MONTAÑO",
    "ACUÑA",
    "BRICEÑO",
    "VARGAS",
    "QUISPE",
    "MAMANI",
    "HUAMÁN",
    "CÁRDENAS",
];
const MALE: &[&str] = &[
    "JOSÉ LUIS",
    "JUAN",
    "LUIS ÁNGEL",
    "JESÚS",
    "RAÚL",
    "IVÁN",
    "RAMÓN",
    "CARLOS",
    "NOÉ",
    "JOAQUÍN",
    "MARTÍN",
];
const FEMALE: &[&str] = &[
    "ANA SOFÍA",
    "MARÍA JOSÉ",
    "VERÓNICA",
    "INÉS",
    "MÓNICA",
    "LUCÍA",
    "BEATRIZ",
    "DANIELA",
    "ZOÉ",
    "ROCÍO",
];
const STREETS: &[&str] = &[
    "C SAN JUAN DE LETRÁN",
    "AV INSURGENTES SUR",
    "C MIGUEL HIDALGO",
    "AV REFORMA",
    "C PEÑA POBRE",
];
const COLONIAS: &[&str] = &[
    "COL CENTRO",
    "COL DEL VALLE",
    "COL ROMA NORTE",
    "COL NIÑOS HÉROES",
];
const CITIES: &[&str] = &[
    "CUAUHTÉMOC, CDMX",
    "GUADALAJARA, JAL.",
    "MONTERREY, N.L.",
    "PUEBLA, PUE.",
];
pub(crate) const CO_PLACES: &[&str] =
    &["BOGOTÁ D.C.", "MEDELLÍN", "CALI", "BARRANQUILLA", "CÚCUTA"];
pub(crate) const CO_DEPTS: &[&str] = &[
    "(CUNDINAMARCA)",
    "(ANTIOQUIA)",
    "(VALLE)",
    "(ATLÁNTICO)",
    "(N. SANTANDER)",
];
const BLOOD: &[&str] = &["O+", "O-", "A+", "A-", "B+", "AB+"];
pub(crate) const MONTHS: [&str; 12] = [
    "ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEP", "OCT", "NOV", "DIC",
];
const CURP_STATES: &[&str] = &["DF", "JC", "NL", "PL", "VZ", "GT", "MC", "OC"];

/// A made-up person with every number the three cards need.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) first_surname: String,
    pub(crate) second_surname: String,
    pub(crate) given_names: String,
    /// `M` or `F` (ICAO).
    pub(crate) sex: char,
    pub(crate) birth: (i32, u32, u32),
    pub(crate) curp: String,
    pub(crate) clave_elector: String,
    pub(crate) cic: String,
    pub(crate) section: String,
    pub(crate) citizen_id: String,
    pub(crate) registration: String,
    pub(crate) validity: (i32, i32),
    pub(crate) address: [String; 3],
    pub(crate) co_number: String,
    pub(crate) birth_place: String,
    pub(crate) height_cm: u32,
    pub(crate) blood: String,
    pub(crate) co_issue: (i32, u32, u32),
    pub(crate) co_issue_place: String,
    pub(crate) pe_dni: String,
    pub(crate) pe_issue: (i32, u32, u32),
    pub(crate) pe_expiry: (i32, u32, u32),
}

/// Upper case ASCII as the MRZ and the CURP write names: accents dropped; `Ñ` becomes `N` in
/// the MRZ (and `X` in the CURP, handled there).
pub(crate) fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'Á' | 'À' | 'Ä' => 'A',
            'É' | 'È' | 'Ë' => 'E',
            'Í' | 'Ì' | 'Ï' => 'I',
            'Ó' | 'Ò' | 'Ö' => 'O',
            'Ú' | 'Ù' | 'Ü' => 'U',
            'Ñ' => 'N',
            c => c,
        })
        .collect()
}

fn first_internal(word: &str, vowel: bool) -> char {
    word.chars()
        .skip(1)
        .find(|c| "AEIOU".contains(*c) == vowel && c.is_ascii_alphabetic())
        .unwrap_or('X')
}

impl Identity {
    pub(crate) fn new(seed: u64) -> Self {
        let mut r = Rng::new(seed);
        let sex = if r.below(2) == 0 { 'M' } else { 'F' };
        let first_surname = r.pick(SURNAMES).to_owned();
        let mut second_surname = r.pick(SURNAMES).to_owned();
        if second_surname == first_surname {
            second_surname = "RUIZ".into();
        }
        let given_names = if sex == 'M' {
            r.pick(MALE)
        } else {
            r.pick(FEMALE)
        }
        .to_owned();
        let year = 1950 + r.below(55) as i32;
        let birth = (year, 1 + r.below(12) as u32, 1 + r.below(28) as u32);
        // CURP: letters from the names (Ñ → X), date, sex, state, consonants, homoclave, check.
        let s1 = ascii_fold(&first_surname.replace('Ñ', "X"));
        let s2 = ascii_fold(&second_surname.replace('Ñ', "X"));
        let g = ascii_fold(&given_names.replace('Ñ', "X"));
        let g_first = g.split(' ').next().unwrap_or("X").to_owned();
        let yymmdd = format!("{:02}{:02}{:02}", birth.0 % 100, birth.1, birth.2);
        let sex_mx = if sex == 'M' { 'H' } else { 'M' };
        let state = r.pick(CURP_STATES);
        let homoclave = if year < 2000 {
            char::from(b'0' + r.below(10) as u8)
        } else {
            char::from(b'A' + r.below(26) as u8)
        };
        let first17 = format!(
            "{}{}{}{}{yymmdd}{sex_mx}{state}{}{}{}{homoclave}",
            s1.chars().next().unwrap_or('X'),
            first_internal(&s1, true),
            s2.chars().next().unwrap_or('X'),
            g_first.chars().next().unwrap_or('X'),
            first_internal(&s1, false),
            first_internal(&s2, false),
            first_internal(&g_first, false),
        );
        let check = kyc_flow_documents::id::curp_check_digit(&first17).unwrap_or('0');
        let curp = format!("{first17}{check}");
        let clave_elector = format!(
            "{}{}{}{}{}{}{yymmdd}{:02}{sex_mx}{}",
            s1.chars().next().unwrap_or('X'),
            first_internal(&s1, false),
            s2.chars().next().unwrap_or('X'),
            first_internal(&s2, false),
            g_first.chars().next().unwrap_or('X'),
            first_internal(&g_first, false),
            1 + r.below(32),
            r.digits(3),
        );
        let reg_year = (year + 18 + r.below(10) as i32).min(2024);
        // Credentials are renewed: the current one started recently and is still valid.
        let start = (reg_year.max(2018) + r.below(7) as i32).min(2025);
        let co_issue = (year + 18, 1 + r.below(12) as u32, 1 + r.below(28) as u32);
        let pe_issue = (
            2020 + r.below(6) as i32,
            1 + r.below(12) as u32,
            1 + r.below(28) as u32,
        );
        Identity {
            address: [
                format!("{} {}", r.pick(STREETS), 10 + r.below(990)),
                format!("{} {}", r.pick(COLONIAS), r.digits(5)),
                r.pick(CITIES).to_owned(),
            ],
            first_surname,
            second_surname,
            given_names,
            sex,
            birth,
            curp,
            clave_elector,
            cic: format!("{}", 100_000_000 + r.below(900_000_000)),
            section: format!("{:04}", 1 + r.below(9000)),
            citizen_id: r.digits(9),
            registration: format!("{reg_year} {:02}", r.below(4)),
            validity: (start, start + 10),
            co_number: format!("{}", 1_000_000_000 + r.below(99_999_999)),
            birth_place: format!("{} {}", r.pick(CO_PLACES), r.pick(CO_DEPTS)),
            height_cm: 150 + r.below(40) as u32,
            blood: r.pick(BLOOD).to_owned(),
            co_issue,
            co_issue_place: r.pick(CO_PLACES).to_owned(),
            pe_dni: format!("{}", 10_000_000 + r.below(89_999_999)),
            pe_issue,
            pe_expiry: (pe_issue.0 + 8, pe_issue.1, pe_issue.2),
        }
    }

    pub(crate) fn surnames(&self) -> String {
        format!("{} {}", self.first_surname, self.second_surname)
    }
}

pub(crate) fn iso((y, m, d): (i32, u32, u32)) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

pub(crate) fn yymmdd((y, m, d): (i32, u32, u32)) -> String {
    format!("{:02}{m:02}{d:02}", y % 100)
}

/// Colombian thousands separators: `1.023.456.789`.
pub(crate) fn co_dotted(n: &str) -> String {
    let mut out = String::new();
    for (i, c) in n.chars().enumerate() {
        if i > 0 && (n.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// The Colombian cédula's PDF417 payload for a seed, laid out by the document crate's builder
/// (fixed fields at the community-documented offsets, then a non-biometric filler).
pub fn co_cedula_payload_for_seed(seed: u64) -> Vec<u8> {
    co_payload(&Identity::new(seed))
}

pub(crate) fn co_payload(id: &Identity) -> Vec<u8> {
    let mut given = id.given_names.split(' ');
    let (y, m, d) = id.birth;
    kyc_flow_documents::payload::build::co_cedula_pdf417(
        &kyc_flow_documents::payload::build::CoCedula {
            number: id.co_number.clone(),
            surnames: (
                ascii_fold(&id.first_surname),
                ascii_fold(&id.second_surname),
            ),
            given: (
                ascii_fold(given.next().unwrap_or("")),
                ascii_fold(given.next().unwrap_or("")),
            ),
            sex: id.sex,
            birth: format!("{y:04}{m:02}{d:02}"),
            place: "11001".into(),
            blood: id.blood.clone(),
            trailer: 363,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Card rendering
// ---------------------------------------------------------------------------------------------

struct Fonts {
    sans: FontVec,
    ocrb: FontVec,
}

fn fonts() -> Result<&'static Fonts, SynthError> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let assets = AssetPaths::discover().map_err(|e| e.to_string())?;
            let load = |p: std::path::PathBuf| -> Result<FontVec, String> {
                let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                FontVec::try_from_vec(bytes).map_err(|e| format!("{}: {e}", p.display()))
            };
            Ok(Fonts {
                sans: load(assets.font_dejavu().map_err(|e| e.to_string())?)?,
                ocrb: load(assets.font_ocrb().map_err(|e| e.to_string())?)?,
            })
        })
        .as_ref()
        .map_err(|e| SynthError::Font(e.clone()))
}

/// Draws `text` with its top-left at (`x`, `y`); returns the advance width.
pub(crate) fn draw_text(
    img: &mut RgbImage,
    font: &FontVec,
    px: f32,
    x: f32,
    y: f32,
    text: &str,
    color: [u8; 3],
) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(caret, y + scaled.ascent()));
        caret += scaled.h_advance(id);
        prev = Some(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let px_x = b.min.x as i32 + gx as i32;
                let px_y = b.min.y as i32 + gy as i32;
                if px_x < 0 || px_y < 0 || px_x >= img.width() as i32 || px_y >= img.height() as i32
                {
                    return;
                }
                let cov = cov.clamp(0.0, 1.0);
                let p = img.get_pixel_mut(px_x as u32, px_y as u32);
                for (channel, ink) in p.0.iter_mut().zip(color) {
                    *channel = (*channel as f32 * (1.0 - cov) + ink as f32 * cov).round() as u8;
                }
            });
        }
    }
    caret - x
}

pub(crate) fn text_width(font: &FontVec, px: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum()
}

fn fill_rect(img: &mut RgbImage, (x, y, w, h): (u32, u32, u32, u32), color: [u8; 3]) {
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            img.put_pixel(xx, yy, Rgb(color));
        }
    }
}

/// The value printed in a field box, and the canonical truth it stands for.
fn printed_value(kind: SampleKind, key: &str, id: &Identity) -> Option<String> {
    let (y, m, d) = id.birth;
    Some(match (kind, key) {
        (_, "first_surname") => id.first_surname.clone(),
        (_, "second_surname") => id.second_surname.clone(),
        (_, "given_names") => id.given_names.clone(),
        (SampleKind::MxIne, "address_1") => id.address[0].clone(),
        (SampleKind::MxIne, "address_2") => id.address[1].clone(),
        (SampleKind::MxIne, "address_3") => id.address[2].clone(),
        (SampleKind::MxIne, "clave_elector") => id.clave_elector.clone(),
        (SampleKind::MxIne, "curp") => id.curp.clone(),
        (SampleKind::MxIne, "registration_year") => id.registration.clone(),
        (SampleKind::MxIne, "birth_date") => format!("{d:02}/{m:02}/{y:04}"),
        (SampleKind::MxIne, "sex") => if id.sex == 'M' { "H" } else { "M" }.into(),
        (SampleKind::MxIne, "section") => id.section.clone(),
        (SampleKind::MxIne, "validity") => format!("{} - {}", id.validity.0, id.validity.1),
        (SampleKind::CoCedula, "document_number") => co_dotted(&id.co_number),
        (SampleKind::CoCedula, "surnames") => id.surnames(),
        (SampleKind::CoCedula, "birth_date") => {
            format!("{d:02}-{}-{y:04}", MONTHS[(m - 1) as usize])
        }
        (SampleKind::CoCedula, "birth_place") => id.birth_place.clone(),
        (SampleKind::CoCedula, "height") => {
            format!("{}.{:02}", id.height_cm / 100, id.height_cm % 100)
        }
        (SampleKind::CoCedula, "blood_type") => id.blood.clone(),
        (SampleKind::CoCedula, "sex") => id.sex.to_string(),
        (SampleKind::CoCedula, "issue") => {
            let (iy, im, idd) = id.co_issue;
            format!(
                "{idd:02}-{}-{iy:04} {}",
                MONTHS[(im - 1) as usize],
                id.co_issue_place
            )
        }
        (SampleKind::PeDni, "document_number") => {
            let check = kyc_flow_documents::id::pe_dni_check_chars(&id.pe_dni)
                .map(|c| c.0)
                .unwrap_or('0');
            format!("{} - {check}", id.pe_dni)
        }
        (SampleKind::PeDni, "birth_date") => format!("{d:02} {m:02} {y:04}"),
        (SampleKind::PeDni, "sex") => id.sex.to_string(),
        (SampleKind::PeDni, "issue_date") => {
            let (iy, im, idd) = id.pe_issue;
            format!("{idd:02} {im:02} {iy:04}")
        }
        (SampleKind::PeDni, "expiry_date") => {
            let (iy, im, idd) = id.pe_expiry;
            format!("{idd:02} {im:02} {iy:04}")
        }
        _ => return None,
    })
}

/// The canonical fields a perfect reader extracts from this side.
fn truth_for(kind: SampleKind, side: Side, id: &Identity) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        t.insert(k.to_owned(), v);
    };
    let sex = id.sex.to_string();
    match (kind, side) {
        (SampleKind::MxIne, Side::Front) => {
            put("surnames", id.surnames());
            put("given_names", id.given_names.clone());
            put("birth_date", iso(id.birth));
            put("sex", sex);
            put("curp", id.curp.clone());
            put("clave_elector", id.clave_elector.clone());
            put("section", id.section.clone());
            put("expiry_date", format!("{}-12-31", id.validity.1));
            put("address", id.address.join(", "));
        }
        (SampleKind::MxIne, Side::Back) => {
            put("cic", id.cic.clone());
            put("citizen_id", id.citizen_id.clone());
            put("section", id.section.clone());
            put("birth_date", iso(id.birth));
            put("sex", sex);
            put("expiry_date", format!("{}-12-31", id.validity.1));
            put("surnames", ascii_fold(&id.surnames()));
            put("given_names", ascii_fold(&id.given_names));
        }
        (SampleKind::CoCedula, Side::Front) => {
            put("document_number", id.co_number.clone());
            put("surnames", id.surnames());
            put("given_names", id.given_names.clone());
        }
        (SampleKind::CoCedula, Side::Back) => {
            put("document_number", id.co_number.clone());
            put("birth_date", iso(id.birth));
            put("sex", sex);
            put("blood_type", id.blood.clone());
            put("surnames", ascii_fold(&id.surnames()));
            put("given_names", ascii_fold(&id.given_names));
            put("issue_date", iso(id.co_issue));
        }
        (SampleKind::PeDni, Side::Front) => {
            put("document_number", id.pe_dni.clone());
            put("surnames", id.surnames());
            put("given_names", id.given_names.clone());
            put("birth_date", iso(id.birth));
            put("sex", sex);
            put("issue_date", iso(id.pe_issue));
            put("expiry_date", iso(id.pe_expiry));
        }
        (SampleKind::PeDni, Side::Back) => {
            put("document_number", id.pe_dni.clone());
            put("birth_date", iso(id.birth));
            put("sex", sex);
            put("expiry_date", iso(id.pe_expiry));
            put("surnames", ascii_fold(&id.surnames()));
            put("given_names", ascii_fold(&id.given_names));
        }
    }
    t
}

pub(crate) fn mrz_for(kind: SampleKind, id: &Identity) -> Option<Vec<String>> {
    let spec = match kind {
        SampleKind::MxIne => build::Spec {
            document_type: "ID".into(),
            country: "MEX".into(),
            number: id.cic.clone(),
            birth: yymmdd(id.birth),
            sex: if id.sex == 'M' { "H" } else { "M" }.into(),
            expiry: format!("{:02}1231", id.validity.1 % 100),
            nationality: "MEX".into(),
            optional: format!("<<{}{}", id.section, id.citizen_id),
            optional_2: String::new(),
            surname: ascii_fold(&id.surnames()),
            given: ascii_fold(&id.given_names),
        },
        SampleKind::PeDni => build::Spec {
            document_type: "I".into(),
            country: "PER".into(),
            number: id.pe_dni.clone(),
            birth: yymmdd(id.birth),
            sex: id.sex.to_string(),
            expiry: yymmdd(id.pe_expiry),
            nationality: "PER".into(),
            optional: String::new(),
            optional_2: String::new(),
            surname: ascii_fold(&id.surnames()),
            given: ascii_fold(&id.given_names),
        },
        SampleKind::CoCedula => return None,
    };
    Some(build::td1(&spec).lines().map(str::to_owned).collect())
}

type Rendered = (
    RgbImage,
    BTreeMap<String, String>,
    Option<Vec<String>>,
    Option<Vec<u8>>,
);

fn render_card(
    kind: SampleKind,
    side: Side,
    lay: &SideLayout,
    id: &Identity,
    fonts: &Fonts,
) -> Result<Rendered, SynthError> {
    let mut card = RgbImage::from_pixel(CARD_WIDTH, CARD_HEIGHT, Rgb(lay.background));
    // A guilloche-like background: faint waves, so the card is not a flat colour.
    for y in 0..CARD_HEIGHT {
        for x in 0..CARD_WIDTH {
            let w = ((x as f32 / 23.0 + (y as f32 / 41.0).sin() * 3.0).sin() * 6.0) as i16;
            let p = card.get_pixel_mut(x, y);
            for k in 0..3 {
                p.0[k] = (p.0[k] as i16 - w.abs()).clamp(0, 255) as u8;
            }
        }
    }
    // Titles.
    for (i, t) in lay.titles.iter().enumerate() {
        draw_text(
            &mut card,
            &fonts.sans,
            26.0,
            40.0,
            24.0 + i as f32 * 34.0,
            t,
            [40, 40, 90],
        );
    }
    // SPECIMEN marks: a red band at the top right and a line at the bottom, away from fields.
    fill_rect(&mut card, (900, 18, 280, 64), [200, 30, 30]);
    let sw = text_width(&fonts.sans, 44.0, "SPECIMEN");
    draw_text(
        &mut card,
        &fonts.sans,
        44.0,
        900.0 + (280.0 - sw) / 2.0,
        24.0,
        "SPECIMEN",
        [255, 255, 255],
    );
    draw_text(
        &mut card,
        &fonts.sans,
        16.0,
        40.0,
        CARD_HEIGHT as f32 - 26.0,
        "SPECIMEN · NOT A VALID DOCUMENT · kyc-flow synthetic sample",
        [190, 30, 30],
    );

    // Printed fields.
    for fb in lay.fields {
        let Some(value) = printed_value(kind, fb.key, id) else {
            continue;
        };
        draw_field(&mut card, fonts, fb, &value);
    }
    // Portrait.
    if let Some((x, y, w, h)) = lay.portrait {
        let portrait = portrait_for(id.cic.parse::<u64>().unwrap_or(0), w, h);
        image::imageops::overlay(&mut card, &portrait, x as i64, y as i64);
    }
    // MRZ.
    let mrz = if lay.mrz.is_some() {
        mrz_for(kind, id)
    } else {
        None
    };
    if let (Some(((x, y, _, _), _)), Some(lines)) = (lay.mrz, &mrz) {
        fill_rect(
            &mut card,
            (x - 10, y - 10, CARD_WIDTH - 2 * (x - 10), 230),
            [246, 246, 242],
        );
        for (i, line) in lines.iter().enumerate() {
            draw_text(
                &mut card,
                &fonts.ocrb,
                52.0,
                x as f32 + 20.0,
                y as f32 + 8.0 + i as f32 * 70.0,
                line,
                [20, 20, 20],
            );
        }
    }
    // Barcodes.
    let mut payload = None;
    if let Some((bx, by, bw, bh)) = lay.barcode {
        let (symbol, bytes) = match kind {
            SampleKind::CoCedula => {
                let p = co_payload(id);
                (barcode::encode_pdf417(&p, 2)?, p)
            }
            _ => {
                let text = format!("SPECIMEN|IDMEX|{}|{}{}", id.cic, id.section, id.citizen_id);
                (barcode::encode_qr(&text, 6)?, text.into_bytes())
            }
        };
        let scale = (bw as f32 / symbol.width() as f32).min(bh as f32 / symbol.height() as f32);
        let (sw, sh) = (
            (symbol.width() as f32 * scale) as u32,
            (symbol.height() as f32 * scale) as u32,
        );
        let symbol = image::imageops::resize(&symbol, sw, sh, FilterType::Nearest);
        // Printed like ink on the card: bars darken it, spaces leave its background (a pasted
        // pure-white patch would read as glare, which real cards do not show).
        let (ox, oy) = (bx + (bw - sw) / 2, by + (bh - sh) / 2);
        for (x, y, p) in symbol.enumerate_pixels() {
            let (cx, cy) = (ox + x, oy + y);
            if cx < CARD_WIDTH && cy < CARD_HEIGHT {
                let c = card.get_pixel_mut(cx, cy);
                c.0 = c.0.map(|v| v.min(p.0[0].max(20)));
            }
        }
        payload = Some(bytes);
    }
    // A thin dark border, as printed cards have a visible edge against a light table.
    for x in 0..CARD_WIDTH {
        for t in 0..3 {
            card.put_pixel(x, t, Rgb([120, 120, 120]));
            card.put_pixel(x, CARD_HEIGHT - 1 - t, Rgb([120, 120, 120]));
        }
    }
    for y in 0..CARD_HEIGHT {
        for t in 0..3 {
            card.put_pixel(t, y, Rgb([120, 120, 120]));
            card.put_pixel(CARD_WIDTH - 1 - t, y, Rgb([120, 120, 120]));
        }
    }
    Ok((card, truth_for(kind, side, id), mrz, payload))
}

fn draw_field(card: &mut RgbImage, fonts: &Fonts, fb: &FieldBox, value: &str) {
    let (x, y, _, h) = fb.rect;
    if !fb.label.is_empty() {
        let ly = if fb.label_above {
            y as f32 - LABEL_PX - 4.0
        } else {
            (y + h) as f32 + 2.0
        };
        draw_text(
            card,
            &fonts.sans,
            LABEL_PX,
            x as f32,
            ly,
            fb.label,
            [110, 60, 90],
        );
    }
    draw_text(
        card,
        &fonts.sans,
        VALUE_PX,
        x as f32 + 4.0,
        y as f32 + (h as f32 - VALUE_PX * 1.17) / 2.0,
        value,
        [15, 15, 15],
    );
}

/// A portrait crop from the test photos (face located by the face detector, so the face match
/// engine can find it on the card), or a drawn silhouette when the photos are unavailable.
pub(crate) fn portrait_for(seed: u64, w: u32, h: u32) -> RgbImage {
    static CROPS: OnceLock<Vec<RgbImage>> = OnceLock::new();
    let crops = CROPS.get_or_init(load_portraits);
    if crops.is_empty() {
        let mut img = RgbImage::from_pixel(w, h, Rgb([200, 205, 215]));
        let (cx, cy) = (w as f32 / 2.0, h as f32 * 0.42);
        for y in 0..h {
            for x in 0..w {
                let dx = (x as f32 - cx) / (w as f32 * 0.22);
                let dy = (y as f32 - cy) / (h as f32 * 0.24);
                if dx * dx + dy * dy < 1.0
                    || (y as f32 > h as f32 * 0.72 && (x as f32 - cx).abs() < w as f32 * 0.42)
                {
                    img.put_pixel(x, y, Rgb([90, 80, 75]));
                }
            }
        }
        return img;
    }
    let src = &crops[(seed % crops.len() as u64) as usize];
    image::imageops::resize(src, w, h, FilterType::Triangle)
}

fn load_portraits() -> Vec<RgbImage> {
    let Ok(assets) = AssetPaths::discover() else {
        return Vec::new();
    };
    let engine = kyc_flow_vision::face::FaceEngine::load(&assets, Default::default()).ok();
    let mut out = Vec::new();
    for name in ["obama.jpg", "biden.jpg", "obama2.jpg"] {
        let Some(photo) = assets
            .photo(name)
            .ok()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| kyc_flow_vision::face::decode_photo(&b))
        else {
            continue;
        };
        let (pw, ph) = (photo.width() as f32, photo.height() as f32);
        // Portrait box: 4:5, the face in its upper-middle, as on ID cards.
        let face = engine
            .as_ref()
            .and_then(|e| e.detect(&photo).ok())
            .and_then(|faces| {
                faces
                    .into_iter()
                    .max_by(|a, b| a.area().total_cmp(&b.area()))
            });
        let (cx, cy, fw) = match face {
            Some(f) => ((f.x0 + f.x1) / 2.0, (f.y0 + f.y1) / 2.0, f.width()),
            None => (pw / 2.0, ph * 0.35, pw * 0.4),
        };
        let cw = (fw * 2.0).min(pw);
        let chh = (cw * 1.25).min(ph);
        let x0 = (cx - cw / 2.0).clamp(0.0, pw - cw);
        let y0 = (cy - chh * 0.45).clamp(0.0, ph - chh);
        out.push(
            image::imageops::crop_imm(&photo, x0 as u32, y0 as u32, cw as u32, chh as u32)
                .to_image(),
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Scenes and perturbations
// ---------------------------------------------------------------------------------------------

const SCENE_W: u32 = 2000;
const SCENE_H: u32 = 1500;

fn compose_scene(card: &RgbImage, p: Perturbation, rng: &mut Rng) -> RgbImage {
    // A table: dark, slightly textured, with a light gradient.
    let base = [
        70.0 + rng.range(0.0, 30.0),
        60.0 + rng.range(0.0, 20.0),
        50.0 + rng.range(0.0, 20.0),
    ];
    let mut scene = RgbImage::from_fn(SCENE_W, SCENE_H, |x, y| {
        let n = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) % 13) as f32 - 6.0;
        let g = (x as f32 / SCENE_W as f32) * 25.0;
        Rgb(base.map(|b| (b + g + n).clamp(0.0, 255.0) as u8))
    });
    let (mut width_frac, mut angle, mut cx, cy) = (
        rng.range(0.58, 0.68),
        rng.range(-2.5, 2.5),
        SCENE_W as f32 / 2.0 + rng.range(-60.0, 60.0),
        SCENE_H as f32 / 2.0 + rng.range(-40.0, 40.0),
    );
    match p {
        Perturbation::Skew => {
            angle = if rng.below(2) == 0 { 1.0 } else { -1.0 } * rng.range(7.0, 9.0)
        }
        Perturbation::Small => width_frac = 0.2,
        Perturbation::Crop => {
            width_frac = 0.7;
            cx = SCENE_W as f32 * 0.18;
        }
        _ => {}
    }
    let cw = SCENE_W as f32 * width_frac;
    let ch = cw / (CARD_WIDTH as f32 / CARD_HEIGHT as f32);
    let (s, c) = angle.to_radians().sin_cos();
    let corner =
        |dx: f32, dy: f32, jx: f32, jy: f32| (cx + dx * c - dy * s + jx, cy + dx * s + dy * c + jy);
    // Mild perspective: each corner jittered by up to 1.5 % of the card width.
    let j = cw * 0.015;
    let quad = [
        corner(-cw / 2.0, -ch / 2.0, rng.range(-j, j), rng.range(-j, j)),
        corner(cw / 2.0, -ch / 2.0, rng.range(-j, j), rng.range(-j, j)),
        corner(cw / 2.0, ch / 2.0, rng.range(-j, j), rng.range(-j, j)),
        corner(-cw / 2.0, ch / 2.0, rng.range(-j, j), rng.range(-j, j)),
    ];
    let card = match p {
        Perturbation::PrintedPhoto => printed(card, rng),
        _ => card.clone(),
    };
    paste_projected(&mut scene, &card, quad);
    match p {
        Perturbation::Blur => {
            scene = imageproc::filter::gaussian_blur_f32(&scene, 5.0);
        }
        Perturbation::Glare => {
            // A lamp's reflection that washes out the middle of the card, where the data is:
            // the defect a retake must name (a small highlight on a readable card is not one,
            // and the reader accepts such photos).
            let (gx, gy) = (
                cx + rng.range(-cw * 0.08, cw * 0.08),
                cy + rng.range(-ch * 0.08, ch * 0.08),
            );
            let r = cw * 0.26;
            for y in 0..SCENE_H {
                for x in 0..SCENE_W {
                    let d = (((x as f32 - gx) / r).powi(2) + ((y as f32 - gy) / (r * 0.7)).powi(2))
                        .sqrt();
                    if d < 1.6 {
                        let k = if d < 1.0 { 1.0 } else { (1.6 - d) / 0.6 };
                        let px = scene.get_pixel_mut(x, y);
                        px.0 =
                            px.0.map(|v| (v as f32 + (255.0 - v as f32) * k).min(255.0) as u8);
                    }
                }
            }
        }
        Perturbation::Dark => {
            for px in scene.pixels_mut() {
                px.0 = px.0.map(|v| (v as f32 * 0.13) as u8);
            }
        }
        Perturbation::ScreenReplay => {
            for (x, y, px) in scene.enumerate_pixels_mut() {
                // Moiré between the screen's pixel grid and the camera's sensor, plus a blue
                // cast and lifted blacks of an LCD.
                let m = 0.82
                    + 0.18 * ((x as f32 * 0.93 + y as f32 * 0.31).sin() * (y as f32 * 0.87).sin());
                let grid = if x % 4 == 0 || y % 4 == 0 { 0.85 } else { 1.0 };
                let [r, g, b] = px.0.map(|v| v as f32 * m * grid);
                px.0 = [
                    (r * 0.9 + 18.0) as u8,
                    (g * 0.95 + 18.0) as u8,
                    (b + 30.0).min(255.0) as u8,
                ];
            }
        }
        _ => {}
    }
    scene
}

/// A printout of the card: washed colours, raised blacks, a halftone dot screen.
fn printed(card: &RgbImage, rng: &mut Rng) -> RgbImage {
    let shift = rng.range(0.0, 3.0);
    let mut out = card.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let dot = (((x as f32 + shift) * 0.7).sin() * ((y as f32) * 0.7).sin()) * 10.0;
        let l = (px.0[0] as f32 + px.0[1] as f32 + px.0[2] as f32) / 3.0;
        px.0 = px.0.map(|v| {
            let desat = v as f32 * 0.6 + l * 0.4;
            (40.0 + desat * 0.8 + dot).clamp(0.0, 255.0) as u8
        });
    }
    out
}

/// Paints `card` into `scene` at the quad (TL, TR, BR, BL), bilinear, only inside the quad.
pub(crate) fn paste_projected(scene: &mut RgbImage, card: &RgbImage, quad: [(f32, f32); 4]) {
    let src = [
        (0.0, 0.0),
        (card.width() as f32 - 1.0, 0.0),
        (card.width() as f32 - 1.0, card.height() as f32 - 1.0),
        (0.0, card.height() as f32 - 1.0),
    ];
    let Some(to_card) = Projection::from_control_points(quad, src) else {
        return;
    };
    let xs = quad.iter().map(|p| p.0);
    let ys = quad.iter().map(|p| p.1);
    let x0 = xs.clone().fold(f32::MAX, f32::min).max(0.0) as u32;
    let x1 = (xs.fold(f32::MIN, f32::max).ceil().max(0.0) as u32).min(scene.width());
    let y0 = ys.clone().fold(f32::MAX, f32::min).max(0.0) as u32;
    let y1 = (ys.fold(f32::MIN, f32::max).ceil().max(0.0) as u32).min(scene.height());
    let (cw, ch) = (card.width() as f32, card.height() as f32);
    for y in y0..y1 {
        for x in x0..x1 {
            let (u, v) = to_card * (x as f32, y as f32);
            if u < 0.0 || v < 0.0 || u > cw - 1.0 || v > ch - 1.0 {
                continue;
            }
            let (ui, vi) = (u.floor() as u32, v.floor() as u32);
            let (fu, fv) = (u - ui as f32, v - vi as f32);
            let (u1, v1) = (
                (ui + 1).min(card.width() - 1),
                (vi + 1).min(card.height() - 1),
            );
            let a = card.get_pixel(ui, vi).0;
            let b = card.get_pixel(u1, vi).0;
            let c = card.get_pixel(ui, v1).0;
            let d = card.get_pixel(u1, v1).0;
            let mut out = [0u8; 3];
            for k in 0..3 {
                let top = a[k] as f32 * (1.0 - fu) + b[k] as f32 * fu;
                let bot = c[k] as f32 * (1.0 - fu) + d[k] as f32 * fu;
                out[k] = (top * (1.0 - fv) + bot * fv).round() as u8;
            }
            scene.put_pixel(x, y, Rgb(out));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_flow_documents::mrz;

    #[test]
    fn identities_are_deterministic_and_carry_valid_numbers() {
        for seed in 0..50 {
            let a = Identity::new(seed);
            let b = Identity::new(seed);
            assert_eq!(a.curp, b.curp);
            let v =
                kyc_flow_documents::id::validate(kyc_flow_documents::id::IdKind::MxCurp, &a.curp);
            assert!(v.valid, "seed {seed}: CURP invalid: {:?}", v.reason);
            let v =
                kyc_flow_documents::id::validate(kyc_flow_documents::id::IdKind::PeDni, &a.pe_dni);
            assert!(v.valid, "seed {seed}: DNI invalid");
            let v = kyc_flow_documents::id::validate(
                kyc_flow_documents::id::IdKind::CoCedula,
                &a.co_number,
            );
            assert!(v.valid, "seed {seed}: cédula invalid");
        }
    }

    #[test]
    fn mrzs_parse_with_every_check_passing() {
        for seed in 0..30 {
            let id = Identity::new(seed);
            for kind in [SampleKind::MxIne, SampleKind::PeDni] {
                let lines = mrz_for(kind, &id).unwrap();
                let parsed = mrz::parse(&lines.join("\n")).unwrap();
                assert!(parsed.valid(), "seed {seed} {kind:?}: {:?}", parsed.checks);
            }
        }
    }

    #[test]
    fn perturbation_names_round_trip() {
        for p in Perturbation::ALL {
            assert_eq!(Perturbation::parse(p.as_str()), Some(p));
        }
        assert_eq!(SampleKind::parse("mx-ine"), Some(SampleKind::MxIne));
    }
}
