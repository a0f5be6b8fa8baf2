//! kyc-flow-vision: from the user's photos to verified data.
//!
//! Module ownership while the crate is being built (two engineers in parallel):
//! face/liveness/vendor/assets/onnx on one side; quality/barcode/ocr/reader on the other.
//! The synthetic sample generator, attack simulations and face evaluation live in the
//! `kyc-flow-vision-testkit` crate, outside the production engines.

pub mod assets;
pub mod vendor;

#[cfg(feature = "local")]
pub mod face;
#[cfg(feature = "local")]
pub mod liveness;
#[cfg(feature = "local")]
pub mod onnx;
#[cfg(feature = "local")]
pub mod pad;
#[cfg(feature = "pdf")]
pub mod pdf;
#[cfg(feature = "local")]
pub mod phash;
#[cfg(feature = "local")]
pub mod photo;
#[cfg(feature = "local")]
pub mod repeat;
#[cfg(feature = "video")]
pub mod video;
/// Entry point of `kyc-flow inspect face`.
#[cfg(feature = "local")]
pub use face::inspect_face;

#[cfg(feature = "local")]
pub mod barcode;
#[cfg(feature = "local")]
pub mod ocr;
#[cfg(feature = "local")]
pub mod quality;
#[cfg(feature = "local")]
pub mod reader;
/// Entry point of `kyc-flow inspect image`.
#[cfg(feature = "local")]
pub use reader::{LocalDocumentReader, inspect_image};
