"""The broker's one RS256 signing key, kept in a JWK file so a restart keeps its ``kid``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from joserfc.jwk import RSAKey

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> RSAKey:
    if path.exists():
        key = RSAKey.import_key(json.loads(path.read_text()))
        log.info("signing key %s from %s", key.kid, path)
        return key
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name and readable by the owner only: it is a private key.
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(key.as_dict(private=True), file)
    os.replace(partial, path)
    log.info("new signing key %s in %s", key.kid, path)
    return key
