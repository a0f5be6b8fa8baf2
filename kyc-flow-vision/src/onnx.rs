//! onnx (being written).
