//! Where the vision engines find their models, runtime, test photos and fonts.
//!
//! The files are not in git: `scripts/fetch-assets.sh` downloads them from registry packages
//! into `.assets/` at the workspace root and pins their SHA-256. This module only locates them:
//! the `KYC_FLOW_ASSETS` environment variable wins; otherwise the first `.assets` directory
//! found walking up from the current directory, then from the crate's manifest directory. Every
//! getter checks that its file exists and otherwise names the missing file and the script to
//! run, so an operator knows exactly what to do.

use kyc_flow_core::ports::{PortError, PortErrorKind};
use std::path::{Path, PathBuf};

/// Environment variable naming the assets directory explicitly.
pub const ASSETS_ENV: &str = "KYC_FLOW_ASSETS";
/// The script that fetches the assets, relative to the workspace root.
pub const FETCH_SCRIPT: &str = "scripts/fetch-assets.sh";
/// Name of the directory searched for when [`ASSETS_ENV`] is unset.
pub const ASSETS_DIR: &str = ".assets";

/// Why an asset could not be located. Always permanent: retrying will not create the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    /// No assets directory at all.
    #[error(
        "vision assets not found: {ASSETS_ENV} is unset and no `{ASSETS_DIR}` directory exists above {searched}; run `{FETCH_SCRIPT}` at the workspace root (or set {ASSETS_ENV})"
    )]
    NoAssetsDir {
        /// The places searched, for the message.
        searched: String,
    },
    /// `KYC_FLOW_ASSETS` points somewhere that is not a directory.
    #[error("{ASSETS_ENV}={path} is not a directory; run `{FETCH_SCRIPT} {path}` to create it")]
    BadEnvDir {
        /// The value of the variable.
        path: String,
    },
    /// The directory exists but one file is missing.
    #[error("vision asset missing: {path}; run `{FETCH_SCRIPT}` to fetch it")]
    Missing {
        /// The full path that was expected.
        path: String,
    },
}

impl From<AssetError> for PortError {
    fn from(e: AssetError) -> Self {
        PortError::new(PortErrorKind::Unsupported, e.to_string())
    }
}

/// A located assets directory (see the module docs for the search order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPaths {
    root: PathBuf,
}

impl AssetPaths {
    /// Finds the assets directory: `KYC_FLOW_ASSETS`, else the first `.assets` walking up from
    /// the current directory, then from `CARGO_MANIFEST_DIR` (at run time, then at build time).
    pub fn discover() -> Result<Self, AssetError> {
        if let Some(dir) = std::env::var_os(ASSETS_ENV).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            return if dir.is_dir() {
                Ok(Self { root: dir })
            } else {
                Err(AssetError::BadEnvDir {
                    path: dir.display().to_string(),
                })
            };
        }
        let mut starts: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            starts.push(cwd);
        }
        if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
            starts.push(PathBuf::from(dir));
        }
        // Tests and benches run from the crate directory, but a binary installed elsewhere may
        // still be run from inside the checkout it was built from.
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        for start in &starts {
            if let Some(root) = find_upwards(start) {
                return Ok(Self { root });
            }
        }
        Err(AssetError::NoAssetsDir {
            searched: starts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Uses `root` as the assets directory without checking it.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The assets directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/relative`, if the file exists.
    pub fn file(&self, relative: &str) -> Result<PathBuf, AssetError> {
        let path = self.root.join(relative);
        if path.is_file() {
            Ok(path)
        } else {
            Err(AssetError::Missing {
                path: path.display().to_string(),
            })
        }
    }

    /// The ONNX Runtime shared library (from the `onnxruntime` PyPI wheel).
    pub fn ort_dylib(&self) -> Result<PathBuf, AssetError> {
        self.file("ort/libonnxruntime.so")
    }
    /// PP-OCRv6 small text detector.
    pub fn ocr_detector(&self) -> Result<PathBuf, AssetError> {
        self.file("ocr/PP-OCRv6_det_small.onnx")
    }
    /// PP-OCRv6 small text recognizer (its dictionary is in the model metadata).
    pub fn ocr_recognizer(&self) -> Result<PathBuf, AssetError> {
        self.file("ocr/PP-OCRv6_rec_small.onnx")
    }
    /// Ultra-Light RFB-320 face detector.
    pub fn face_detector(&self) -> Result<PathBuf, AssetError> {
        self.file("face/fr_detect.onnx")
    }
    /// 68-point face landmarks.
    pub fn face_landmarks(&self) -> Result<PathBuf, AssetError> {
        self.file("face/fr_landmark.onnx")
    }
    /// 512-d face embedding.
    pub fn face_embedder(&self) -> Result<PathBuf, AssetError> {
        self.file("face/fr_feature.onnx")
    }
    /// Passive liveness (MiniFASNet-like).
    pub fn face_liveness(&self) -> Result<PathBuf, AssetError> {
        self.file("face/fr_liveness.onnx")
    }
    /// A test photo by file name (`obama.jpg`, `obama2.jpg`, `obama3.jpg`, `biden.jpg`,
    /// `obama_partial_face.jpg`).
    pub fn photo(&self, name: &str) -> Result<PathBuf, AssetError> {
        self.file(&format!("photos/{name}"))
    }
    /// The OCR-B font, to render MRZs.
    pub fn font_ocrb(&self) -> Result<PathBuf, AssetError> {
        self.file("fonts/OCRB.otf")
    }
    /// DejaVu Sans, to render printed card fields (has Ñ and accents).
    pub fn font_dejavu(&self) -> Result<PathBuf, AssetError> {
        self.file("fonts/DejaVuSans.ttf")
    }
}

fn find_upwards(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(ASSETS_DIR))
        .find(|candidate| candidate.is_dir())
}

/// For tests and benches that need the real assets.
///
/// Returns the assets when they are present. When they are not: under `CI` (any value but
/// empty, `0` or `false`) this panics, because CI fetches them first and a silent skip would
/// hide a broken pipeline; elsewhere it prints a loud message to stderr and returns `None` so
/// the caller can skip.
pub fn assets_for_test(test: &str) -> Option<AssetPaths> {
    let found = AssetPaths::discover().and_then(|a| {
        // A half-fetched tree counts as missing.
        a.ort_dylib()?;
        Ok(a)
    });
    match found {
        Ok(a) => Some(a),
        Err(e) if ci_is_set() => panic!("{test}: {e} (CI is set, so this test must run)"),
        Err(e) => {
            eprintln!("\n!!!!! SKIPPING {test}: {e}\n!!!!! (set CI=true to make this a failure)\n");
            None
        }
    }
}

fn ci_is_set() -> bool {
    std::env::var("CI")
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            !(v.is_empty() || v == "0" || v == "false")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_names_the_file_and_the_script() {
        let dir = std::env::temp_dir().join("kyc-flow-vision-assets-test-missing");
        std::fs::create_dir_all(&dir).unwrap();
        let assets = AssetPaths::at(&dir);
        let err = assets.face_detector().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("face/fr_detect.onnx"), "{msg}");
        assert!(msg.contains(FETCH_SCRIPT), "{msg}");
        let port: PortError = err.into();
        assert_eq!(port.kind, PortErrorKind::Unsupported);
        assert!(!port.is_retryable());
    }

    #[test]
    fn present_file_is_returned() {
        let dir = std::env::temp_dir().join("kyc-flow-vision-assets-test-present");
        std::fs::create_dir_all(dir.join("photos")).unwrap();
        std::fs::write(dir.join("photos/x.jpg"), b"x").unwrap();
        let assets = AssetPaths::at(&dir);
        assert_eq!(assets.photo("x.jpg").unwrap(), dir.join("photos/x.jpg"));
    }

    #[test]
    fn walks_up_to_find_the_directory() {
        let base = std::env::temp_dir().join("kyc-flow-vision-assets-test-walk");
        let deep = base.join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(base.join(ASSETS_DIR)).unwrap();
        assert_eq!(find_upwards(&deep), Some(base.join(ASSETS_DIR)));
    }
}
