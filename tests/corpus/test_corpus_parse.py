"""parse_mail and machine_verdict over the shared mail corpus (../shared/corpus).

Every message file is its own test case, so a failure names the file. Where a corpus folder
carries another parser's reading (Zammad, django-helpdesk, Stalwart, mime4j), the parts
aliasdesk uses are compared; each comparison says how loose it is and why.
"""

from __future__ import annotations

import base64
import json
import mailbox
import re
import unicodedata
from typing import Any

import pytest

from aliasdesk.mail.machine import machine_verdict
from aliasdesk.mail.model import ParsedMail
from aliasdesk.mail.parse import parse_mail
from tests.support.corpus import CORPUS, MESSAGE_GLOBS, require_corpus

require_corpus()
MESSAGES = sorted(
    {p.relative_to(CORPUS).as_posix() for pattern in MESSAGE_GLOBS for p in CORPUS.glob(pattern)}
)
MACHINE = {
    line.split("\t", 1)[0]
    for line in (CORPUS / "machine-generated.tsv").read_text().splitlines()[1:]
    if line.strip()
}
NOT_A_BOUNCE = [m for m in MESSAGES if m.startswith("sisimai/not-a-bounce/")]
# Not in machine-generated.tsv but flagged as list/bulk by their own headers (Precedence,
# List-Id): allowed by the corpus README ("a policy decision, not a parsing one").
LIST_OR_BULK_ALLOWED = frozenset({"list", "bulk"})

_cache: dict[str, ParsedMail] = {}


def parsed(rel: str) -> ParsedMail:
    if rel not in _cache:
        _cache[rel] = parse_mail((CORPUS / rel).read_bytes())
    return _cache[rel]


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def test_corpus_is_complete() -> None:
    assert len(MESSAGES) == 1104
    assert set(MESSAGES) >= MACHINE


@pytest.mark.parametrize("rel", MESSAGES)
def test_message_parses(rel: str) -> None:
    raw = (CORPUS / rel).read_bytes()
    mail = parse_mail(raw)
    assert isinstance(mail, ParsedMail)
    assert mail.size == len(raw)
    assert not any(d.startswith("parse-failed") for d in mail.defects), mail.defects
    for value in [mail.subject, *(v for _, v in mail.headers)]:
        assert "\r" not in value and "\n" not in value
    for att in mail.attachments:
        assert att.filename and "/" not in att.filename and "\\" not in att.filename
    verdict = machine_verdict(mail)
    if rel in MACHINE:
        assert verdict.kind is not None, f"machine mail judged human: {rel}"
    elif rel in NOT_A_BOUNCE:
        assert verdict.kind is None, verdict
    else:
        assert verdict.kind is None or verdict.kind in LIST_OR_BULK_ALLOWED, verdict


def test_mbox_messages() -> None:
    box = mailbox.mbox(str(CORPUS / "cpython-test_email/data/mailbox_01.mbox"), create=False)
    count = 0
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        mail = parse_mail(raw)
        assert mail.size == len(raw)
        count += 1
    assert count > 0


# --- Zammad: from_email, from_display_name, subject, attachment names (mail/*.yml) ---------


def _zammad_expected() -> list[tuple[str, dict[str, Any]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class Loader(SafeConstructor):
        pass

    def as_mapping(loader: SafeConstructor, node: Any) -> Any:
        return loader.construct_mapping(node, deep=True)

    def as_binary(loader: SafeConstructor, node: Any) -> Any:
        return base64.b64decode(str(loader.construct_scalar(node)))

    Loader.add_constructor("!ruby/hash:ActiveSupport::HashWithIndifferentAccess", as_mapping)
    Loader.add_constructor("!binary", as_binary)
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = Loader
    cases = []
    for yml in sorted((CORPUS / "zammad/mail").glob("*.yml")):
        box = yml.with_suffix(".box")
        if box.exists():
            cases.append((box.relative_to(CORPUS).as_posix(), dict(yaml.load(yml.read_text()))))
    return cases


ZAMMAD = _zammad_expected()
# Where Zammad's reading differs, and why; these fields are not compared for that file.
ZAMMAD_DIFFERS: dict[str, set[str]] = {
    # Raw 8-bit headers: Zammad guesses GB2312/Shift-JIS; we try UTF-8 then the body charset.
    "zammad/mail/mail019.box": {"from"},
    "zammad/mail/mail042.box": {"files"},
    "zammad/mail/mail018.box": {"subject"},  # UTF-7 word folded mid-word: spacing differs
    "zammad/mail/mail017.box": {"from", "name"},  # From is literally "??????"
    "zammad/mail/mail064.box": {"files"},  # Zammad's NFD mojibake ("eìcran")
    "zammad/mail/mail102.box": {"files"},  # Zammad's "091.00.38" vs the written "09.00.38"
    "zammad/mail/mail016.box": {"from"},  # no usable address in From
    "zammad/mail/mail054.box": {"from", "name", "subject"},  # no header block at all
    "zammad/mail/mail068.box": {"from", "name", "subject"},
    "zammad/mail/mail062.box": {"from", "name", "files"},  # Zammad renames to "video.mov"
    "zammad/mail/mail045.box": {"subject", "name"},
    "zammad/mail/mail046.box": {"subject", "name"},
    "zammad/mail/mail093.box": {"subject", "name"},
    # Zammad keeps spaces/quotes inside broken local parts; we remove whitespace.
    "zammad/mail/mail035.box": {"from"},
    "zammad/mail/mail071.box": {"from"},
    "zammad/mail/mail076.box": {"from", "name"},
    "zammad/mail/mail087.box": {"from", "name"},
    # Zammad's own mis-decodings (an unquoted comma in an encoded-word; NFD mojibake).
    "zammad/mail/mail065.box": {"name"},
    # "MAILER-DAEMON (Mail Delivery System)": Zammad drops the comment, we keep it as name.
    "zammad/mail/mail092.box": {"name"},
}
# Zammad names unnamed parts itself ("image.gif", "file-2", "Delivery report.txt") and keeps
# the HTML body as a file; we name them "attachment.<ext>" or keep DSN fields as report text.
ZAMMAD_GENERATED_NAME = re.compile(
    r"(file|message|image)(-\d+)?(\.\w+)?|.*\.html?|delivery report\.txt|delivery-status\.txt"
    r"|[\d.]+|image\d+\.\w+|.*\.eml",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("rel", "expected"), ZAMMAD, ids=[c[0] for c in ZAMMAD])
def test_zammad_expected(rel: str, expected: dict[str, Any]) -> None:
    mail = parsed(rel)
    skip = ZAMMAD_DIFFERS.get(rel, set())
    want_email = str(expected.get("from_email") or "").lower()
    if want_email and "@" in want_email and "from" not in skip:
        assert mail.from_ is not None and mail.from_.address == want_email
    want_name = norm(str(expected.get("from_display_name") or ""))
    if want_name and mail.from_ is not None and "name" not in skip:
        assert norm(mail.from_.name).strip("'\"") == want_name.strip("'\"")
    want_subject = expected.get("subject")
    if want_subject is not None and "subject" not in skip:
        assert norm(mail.subject) == norm(str(want_subject))
    if "files" in skip:
        return
    want_files = [str(a.get("filename") or "") for a in expected.get("attachments") or []]
    ours = {_file_name(a.filename) for a in mail.attachments}
    # Loose: only real file names must be among ours (whitespace-normalised).
    for name in want_files:
        if name and not ZAMMAD_GENERATED_NAME.fullmatch(name):
            assert _file_name(name) in ours, (name, sorted(ours))


def _file_name(name: str) -> str:
    """Whitespace-normalised, and without the blank before an extension, which our names
    drop on purpose ("photo.jpg   .scr" must not look like a picture)."""
    return re.sub(r"\s+\.", ".", norm(name))


# --- django-helpdesk: ticket subject and text (expected.json) -------------------------------

DJANGO = json.loads((CORPUS / "django-helpdesk/expected.json").read_text())["cases"]


@pytest.mark.parametrize("case", DJANGO, ids=[c["file"] for c in DJANGO])
def test_django_helpdesk_expected(case: dict[str, Any]) -> None:
    mail = parsed("django-helpdesk/" + case["file"])
    if "subject_equals" in case:
        assert mail.subject.strip() == case["subject_equals"]
    if "subject_startswith" in case:
        assert mail.subject.startswith(case["subject_startswith"])
    if "body_equals" in case:
        assert mail.text.strip() == case["body_equals"]
    for piece in case.get("body_contains", []):
        # Loose: the piece may sit in the HTML alternative rather than the plain text.
        assert piece in mail.text or piece in (mail.html or "")
    for piece in case.get("forwarded_part_contains", []):
        # Loose: the forward may be in the body or in an attached message/rfc822.
        inside = b"".join(a.data or b"" for a in mail.attachments).decode("utf-8", "replace")
        assert piece in mail.text or piece in inside


# --- Stalwart: subject and From of the top-level message (NNN.json) -------------------------


def _stalwart_cases() -> list[tuple[str, str | None, str | None]]:
    cases = []
    for path in sorted((CORPUS / "stalwart-mail-parser/eml").glob("*/*.json")):
        if path.name.endswith(".crlf.json"):
            continue
        headers = json.loads(path.read_text())["parts"][0]["headers"]
        subject = address = None
        for header in headers:
            value = header["value"]
            if header["name"] == "subject" and subject is None and "Text" in value:
                subject = value["Text"]
            if header["name"] == "from" and address is None and "Address" in value:
                entries = value["Address"].get("List") or []
                if entries and entries[0].get("address"):
                    address = entries[0]["address"]
        rel = path.with_suffix(".eml").relative_to(CORPUS).as_posix()
        cases.append((rel, subject, address))
    return cases


STALWART = _stalwart_cases()
# malformed/019 scrambles its header block; Stalwart recovers headers we read as body.
STALWART_DIFFERS = {"stalwart-mail-parser/eml/malformed/019.eml"}


@pytest.mark.parametrize(("rel", "subject", "address"), STALWART, ids=[c[0] for c in STALWART])
def test_stalwart_expected(rel: str, subject: str | None, address: str | None) -> None:
    mail = parsed(rel)
    if rel in STALWART_DIFFERS:
        pytest.skip("header block read differently by design")
    if subject is not None:
        assert norm(mail.subject) == norm(subject)
    if address is not None:
        assert mail.from_ is not None and mail.from_.address == address.lower()


# --- mime4j: decoded text of single-part plain messages (X_decoded_1.txt) -------------------


def _mime4j_cases() -> list[tuple[str, str]]:
    cases = []
    for msg in sorted((CORPUS / "james-mime4j").glob("**/*.msg")):
        decoded = msg.with_name(msg.stem + "_decoded_1.txt")
        if decoded.exists():
            cases.append((msg.relative_to(CORPUS).as_posix(), decoded.name))
    return cases


MIME4J = _mime4j_cases()


@pytest.mark.parametrize(("rel", "decoded"), MIME4J, ids=[c[0] for c in MIME4J])
def test_mime4j_single_part_text(rel: str, decoded: str) -> None:
    """Loose: only single-part text/plain messages, compared after whitespace normalisation.

    mime4j stores text in the part's charset (ISO-8859-1 when none is declared), and reads
    broken headers its own way; messages whose top level is not text/plain are skipped.
    """
    mail = parsed(rel)
    if mail.content_type != "text/plain" or mail.attachments:
        pytest.skip("not a single text/plain part")
    if any(d.startswith(("mime:", "no-headers", "truncated")) for d in mail.defects):
        pytest.skip("broken header block: mime4j and we split headers from body differently")
    charset = "latin-1"
    match = re.search(r"charset=\"?([\w.:-]+)", mail.header("content-type") or "", re.I)
    if match:
        charset = match.group(1)
    try:
        expected = (CORPUS / rel).with_name(decoded).read_bytes().decode(charset, "replace")
    except LookupError:
        expected = (CORPUS / rel).with_name(decoded).read_bytes().decode("latin-1")
    ours = mail.text.encode("utf-8", "replace").decode("latin-1")
    assert norm(mail.text) == norm(expected) or norm(ours) == norm(expected)
