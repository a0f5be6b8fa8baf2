//! WhatsApp Business Platform Cloud API adapter: webhooks, parsing, Graph API client, 24-hour window.
