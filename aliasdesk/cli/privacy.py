"""``aliasdesk privacy export ADDRESS [-o DIR]`` and ``aliasdesk privacy erase ADDRESS``.

An export is a folder readable by its owner alone: ``export.json`` (what is held about the
person) and ``files/file-N`` (the files they sent; a sender's file name never decides
where anything is written). An erasure anonymises their tickets and removes them from
every other one. Both are recorded as events on the tickets they touch, and neither
refuses anything silently: every refusal is printed with its reason and exits 1.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from aliasdesk.db.session import Database
from aliasdesk.domain.organisation import RoutingConfig
from aliasdesk.private_files import FILE_MODE, FOLDER_MODE
from aliasdesk.services.privacy import collect, erase_person, record_export

_ADDRESS = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


def _address(given: str) -> str | None:
    address = given.strip().strip("<>").lower()
    return address if _ADDRESS.match(address) else None


def privacy_export(db: Database, given: str, output: Path | None) -> int:
    address = _address(given)
    if address is None:
        return _fail("export", f"{given!r} is not a mail address", 2)
    target = output or Path(f"aliasdesk-export-{re.sub(r'[^a-z0-9._-]', '_', address)}")
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        return _fail("export", f"{target} exists and is not an empty folder: nothing written", 1)
    with db.unit_of_work() as session:
        data = collect(session, address)
        target.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        os.chmod(target, FOLDER_MODE)
        files = target / "files"
        files.mkdir(mode=FOLDER_MODE, exist_ok=True)
        for name, content in data.files:
            _write(files / name, content)
        text = json.dumps(data.as_json(), indent=2, ensure_ascii=False, default=str)
        _write(target / "export.json", text.encode())
        record_export(session, data, datetime.now(UTC))
    held = "nothing is held" if data.empty else f"{len(data.touched)} ticket(s)"
    print(f"{target}: {held} about {address}; {len(data.files)} file(s)")
    return 0


def privacy_erase(db: Database, config: RoutingConfig, given: str) -> int:
    address = _address(given)
    if address is None:
        return _fail("erase", f"{given!r} is not a mail address", 2)
    if config.is_staff(address):
        why = "is a member, alias or admin in the routing file; remove them there first"
        return _fail("erase", f"{address} {why}: nothing was erased", 1)
    with db.unit_of_work() as session:
        refs = erase_person(session, config, address, datetime.now(UTC))
    if not refs:
        print(f"nothing is held about {address} in any ticket; raw mail from them, if any, removed")
        return 0
    print(f"erased {address} from {len(refs)} ticket(s): {', '.join(refs)}")
    return 0


def _write(path: Path, content: bytes) -> None:
    """A new file, 0600, never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(content)


def _fail(action: str, message: str, code: int) -> int:
    print(f"aliasdesk privacy {action}: {message}", file=sys.stderr)
    return code
