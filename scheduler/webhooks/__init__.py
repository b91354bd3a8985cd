"""Webhooks: payloads (pure), signatures, target safety, retry policy, the HTTP client."""
