"""``python -m db migrate``: the application database brought to the newest migration, with the
settings' DATABASE_URL. The compose stack's one-shot migrate job runs it before any worker or
site starts (each of them then leaves the schema alone: MIGRATE_ON_START=false)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from db.engine import migrate
from settings import get_settings

log = logging.getLogger("cers.migrate")


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if list(argv) != ["migrate"]:
        log.error("usage: python -m db migrate")
        return 2
    migrate(get_settings().sqlalchemy_url)
    log.info("database schema is at the newest migration")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
