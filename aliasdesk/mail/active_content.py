"""Files that can act when opened: never passed on from someone we cannot vouch for.

A stranger writing to an alias can attach ``Form.html`` with a script, or a macro-laden
spreadsheet, and hope a member opens it because it arrived from their own department's
address. Such files are kept in the ticket and listed by name; only the raw mail and the
database hold them. Judged by extension and by declared type, since either can lie and
the mail client of the person opening it looks at both.
"""

from __future__ import annotations

ACTIVE_EXTENSIONS = frozenset(
    {
        # pages and scripts a browser or the system runs
        "htm", "html", "xhtml", "shtml", "mht", "mhtml", "svg", "hta", "js", "jse", "mjs",
        "vbs", "vbe", "wsf", "wsh", "ps1", "psm1", "bat", "cmd", "sh", "py", "pl", "jar",
        # programs and installers
        "exe", "com", "scr", "pif", "cpl", "msi", "msp", "dll", "app", "dmg", "pkg", "deb",
        "rpm", "apk", "iso", "img", "vhd", "vhdx", "lnk", "url", "reg", "inf", "chm",
        "application", "appref-ms", "gadget", "msc", "settingcontent-ms",
        # documents with macros
        "docm", "dotm", "xlsm", "xltm", "xlam", "xlsb", "pptm", "potm", "ppam", "ppsm",
        "sldm", "one", "xll",
    }
)  # fmt: skip

ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-ms-installer",
        "application/x-sh",
        "application/x-shellscript",
        "application/hta",
        "application/java-archive",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    }
)


def is_active(filename: str, content_type: str) -> bool:
    """Whether a file of this name or declared type could run something when opened."""
    name = filename.strip().rstrip(". ").lower()
    # Every extension counts, not only the last: "Form.html.pdf" or "setup.exe.txt" is
    # what a person renames back, and some viewers sniff past the last one.
    extensions = {part.strip() for part in name.split(".")[1:]}
    declared = content_type.split(";", 1)[0].strip().lower()
    return bool(extensions & ACTIVE_EXTENSIONS) or declared in ACTIVE_TYPES
