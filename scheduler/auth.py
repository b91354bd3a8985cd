"""API tokens: where they come from, and checking one.

Tokens come from the ``api_tokens`` setting. With none configured, the first
start generates one and keeps it in ``<data_dir>/api-token`` (mode 0600), so a
fresh install is protected without setup; the log names the file, never the
token.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from scheduler.config import Settings

logger = logging.getLogger(__name__)

TOKEN_FILE = "api-token"


def token_file(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def load_or_create_tokens(settings: Settings) -> tuple[str, ...]:
    """The tokens allowed to write: configured ones, or the one kept in the data folder."""
    if settings.api_tokens:
        return settings.api_tokens
    path = token_file(settings)
    if path.exists():
        token = path.read_text().strip()
        if token:
            logger.info("API token read from %s", path.resolve(), extra={"action": "auth"})
            return (token,)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    logger.warning(
        "no api_tokens configured: generated one and stored it in %s "
        "(send it as 'Authorization: Bearer <token>')",
        path.resolve(),
        extra={"action": "auth"},
    )
    return (token,)


def is_valid_token(given: str, tokens: tuple[str, ...]) -> bool:
    """Constant-time check of ``given`` against every allowed token."""
    given_bytes = given.encode()
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given_bytes, token.encode())
    return found
