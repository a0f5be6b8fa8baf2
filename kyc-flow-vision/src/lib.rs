//! Vision engines for kyc-flow: quality gate, barcodes, OCR of regional templates, face match and liveness.
