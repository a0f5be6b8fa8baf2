//! ONNX Runtime for the local engines: loading the runtime library and a thread-safe model.
//!
//! Why it looks like this:
//! - `ort` is built with `load-dynamic`: no runtime is downloaded at build time (that fails
//!   offline). The library comes from the `onnxruntime` PyPI wheel that
//!   `scripts/fetch-assets.sh` unpacks to `.assets/ort/libonnxruntime.so`; `ORT_DYLIB_PATH`
//!   overrides the location. The runtime is loaded once per process, on first use.
//! - [`Model`] owns one session behind a `Mutex`, because `Session::run` takes `&mut self`.
//!   Each model runs single-threaded by default (`intra_threads = 1`): a worker serves several
//!   users at once, so parallelism comes from running several photos, not from splitting one
//!   small convolution over cores.
//! - Inputs and outputs are `f32` ndarrays, which is what every model in `.assets/` takes.

use crate::assets::{AssetError, AssetPaths};
use kyc_flow_core::ports::{PortError, PortErrorKind};
use ndarray::{ArrayD, ArrayViewD};
use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The ndarray version the models' tensors use (re-exported so callers need no direct dep).
pub use ndarray;

/// Environment variable that overrides the runtime library location.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// What went wrong loading or running a model. All are permanent for the same input: a model
/// that failed to load or rejected a tensor will do so again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// A model or the runtime library is not where it should be.
    #[error(transparent)]
    Asset(#[from] AssetError),
    /// The ONNX Runtime library could not be loaded or initialized.
    #[error("ONNX Runtime could not be loaded from {path}: {message}")]
    Runtime {
        /// The library path tried.
        path: String,
        /// The loader's reason.
        message: String,
    },
    /// The model file could not be loaded into a session.
    #[error("model {model} could not be loaded: {message}")]
    Load {
        /// Model file name.
        model: String,
        /// The runtime's reason.
        message: String,
    },
    /// The caller passed the wrong number of inputs.
    #[error("model {model} takes {expected} inputs, got {got}")]
    Arity {
        /// Model file name.
        model: String,
        /// Inputs the graph declares.
        expected: usize,
        /// Inputs passed.
        got: usize,
    },
    /// Inference failed (wrong shape, wrong type, runtime error).
    #[error("model {model} failed to run: {message}")]
    Run {
        /// Model file name.
        model: String,
        /// The runtime's reason.
        message: String,
    },
}

impl OnnxError {
    /// Never: none of these get better by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl From<OnnxError> for PortError {
    fn from(e: OnnxError) -> Self {
        let kind = match &e {
            OnnxError::Asset(_) | OnnxError::Runtime { .. } | OnnxError::Load { .. } => {
                PortErrorKind::Unsupported
            }
            OnnxError::Arity { .. } | OnnxError::Run { .. } => PortErrorKind::Internal,
        };
        PortError::new(kind, e.to_string())
    }
}

/// Options for loading a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOptions {
    /// Threads ONNX Runtime may use inside one operator (1 = no intra-op parallelism).
    pub intra_threads: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self { intra_threads: 1 }
    }
}

// Not a OnceLock: a failed first attempt (assets not fetched yet) must not poison the process.
static ENVIRONMENT: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);

/// Where the runtime library is: `ORT_DYLIB_PATH`, else the assets directory.
pub fn runtime_library_path() -> Result<PathBuf, OnnxError> {
    match std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(AssetPaths::discover()?.ort_dylib()?),
    }
}

/// The process-wide ONNX Runtime environment, loading the library on first call.
pub fn environment() -> Result<ort::environment::Environment, OnnxError> {
    let mut guard = ENVIRONMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(env) = guard.as_ref() {
        return Ok(env.clone());
    }
    let path = runtime_library_path()?;
    if !path.is_file() {
        return Err(AssetError::Missing {
            path: path.display().to_string(),
        }
        .into());
    }
    let runtime_err = |message: String| OnnxError::Runtime {
        path: path.display().to_string(),
        message,
    };
    let env = ort::init_from(&path)
        .map_err(|e| runtime_err(e.to_string()))?
        .with_name("kyc-flow")
        .with_telemetry(false)
        .build()
        .map_err(|e| runtime_err(e.to_string()))?;
    *guard = Some(env.clone());
    Ok(env)
}

/// One ONNX model, loaded once, safe to share across threads (`Arc<Model>`).
pub struct Model {
    name: String,
    session: Mutex<Session>,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads the model at `path` (initializing the runtime if needed).
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Self, OnnxError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        if !path.is_file() {
            return Err(AssetError::Missing {
                path: path.display().to_string(),
            }
            .into());
        }
        let env = environment()?;
        let load_err = |message: String| OnnxError::Load {
            model: name.clone(),
            message,
        };
        let session = Session::builder(&env)
            .map_err(|e| load_err(e.to_string()))?
            .with_intra_threads(options.intra_threads.max(1))
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| load_err(e.to_string()))?
            // Denormal floats make some CPUs' FPUs crawl; flushing them to zero changes no
            // result measurably and keeps latency flat.
            .with_config_entry("session.set_denormal_as_zero", "1")
            .map_err(|e| load_err(e.to_string()))?
            .commit_from_file(path)
            .map_err(|e| load_err(e.to_string()))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect();
        Ok(Self {
            name,
            session: Mutex::new(session),
            inputs,
            outputs,
        })
    }

    /// The model's file name (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input names, in graph order.
    pub fn input_names(&self) -> &[String] {
        &self.inputs
    }

    /// Output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// A custom metadata value (e.g. the PP-OCR recognizer's `character` dictionary).
    pub fn metadata(&self, key: &str) -> Result<Option<String>, OnnxError> {
        let session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let meta = session.metadata().map_err(|e| OnnxError::Run {
            model: self.name.clone(),
            message: e.to_string(),
        })?;
        Ok(meta.custom(key))
    }

    /// Runs the model on `inputs` (one per graph input, in graph order) and returns every
    /// output, in graph order, as owned `f32` arrays.
    pub fn run(&self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, OnnxError> {
        if inputs.len() != self.inputs.len() {
            return Err(OnnxError::Arity {
                model: self.name.clone(),
                expected: self.inputs.len(),
                got: inputs.len(),
            });
        }
        let run_err = |message: String| OnnxError::Run {
            model: self.name.clone(),
            message,
        };
        // The runtime needs contiguous buffers; this copies only when a view is strided.
        let contiguous: Vec<_> = inputs.iter().map(|a| a.as_standard_layout()).collect();
        let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(inputs.len());
        for (name, array) in self.inputs.iter().zip(&contiguous) {
            let tensor =
                TensorRef::from_array_view(array.view()).map_err(|e| run_err(e.to_string()))?;
            values.push((Cow::Borrowed(name.as_str()), tensor.into()));
        }
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outputs = session.run(values).map_err(|e| run_err(e.to_string()))?;
        self.outputs
            .iter()
            .map(|name| {
                let value = outputs
                    .get(name)
                    .ok_or_else(|| run_err(format!("output {name} missing")))?;
                let array = value
                    .try_extract_array::<f32>()
                    .map_err(|e| run_err(format!("output {name}: {e}")))?;
                Ok(array.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_file_is_an_asset_error_naming_it() {
        let err = Model::load(
            Path::new("/nonexistent/kyc-flow/model.onnx"),
            &ModelOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, OnnxError::Asset(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/kyc-flow/model.onnx"));
        let port: PortError = err.into();
        assert_eq!(port.kind, PortErrorKind::Unsupported);
    }

    #[test]
    fn runs_the_face_detector_on_a_blank_frame() {
        let Some(assets) = crate::assets::assets_for_test("onnx::runs_the_face_detector") else {
            return;
        };
        let model =
            Model::load(&assets.face_detector().unwrap(), &ModelOptions::default()).unwrap();
        let input = ndarray::Array4::<f32>::zeros((1, 3, 240, 320)).into_dyn();
        let out = model.run(&[input.view()]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].shape(), &[1, 4420, 2]);
        assert_eq!(out[1].shape(), &[1, 4420, 4]);
        // Wrong arity is a typed error, not a panic.
        let err = model.run(&[]).unwrap_err();
        assert!(matches!(
            err,
            OnnxError::Arity {
                expected: 1,
                got: 0,
                ..
            }
        ));
        // A wrong shape is a run error, not a panic.
        let bad = ndarray::Array4::<f32>::zeros((1, 3, 7, 7)).into_dyn();
        assert!(matches!(
            model.run(&[bad.view()]),
            Err(OnnxError::Run { .. })
        ));
    }
}
