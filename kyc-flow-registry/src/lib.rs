//! National registry clients for kyc-flow: signed webhooks, per-country status mapping, local registry service.
