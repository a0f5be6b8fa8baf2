//! Redis adapters for kyc-flow: session store, job queue on streams, timers, de-duplication, PII encryption.
