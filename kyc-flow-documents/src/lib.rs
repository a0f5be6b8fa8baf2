//! Regional ID document knowledge: identifier validators, MRZ, barcode payloads, templates and cross-checks (pure).
