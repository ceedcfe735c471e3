"""Pages in the text encodings real portals serve, handed to parsers that read only UTF-8.

pyoxigraph reads UTF-8 alone, and refuses a byte-order mark: a Turtle file saved on Windows (BOM), an
RDF/XML export declaring `encoding="ISO-8859-1"`, or a page in UTF-16 would fail the whole source. Each is
turned into the UTF-8 it means before parsing; a page that claims nothing and is not UTF-8 is read as
Windows-1252 (the usual culprit, a superset of Latin-1's printable characters) only after UTF-8 failed.
"""

from __future__ import annotations

import codecs
import re

# <?xml version="1.0" encoding="ISO-8859-1"?> at the very start (after an optional BOM)
_XML_DECLARATION = re.compile(rb"""^(<\?xml[^>]*?\bencoding\s*=\s*["'])([A-Za-z0-9._:-]+)(["'])""")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def as_utf8(content: bytes, xml: bool = False) -> bytes:
    """The page as UTF-8 without a byte-order mark; an XML page's declared encoding is honoured and its
    declaration rewritten to say UTF-8. Unknown or wrong declarations leave the bytes as they are (the
    parser then says what is wrong)."""
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    elif content.startswith(UTF16_BOMS):
        try:
            content = content.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return content
        return _declare_utf8(content) if xml else content
    if xml and (found := _XML_DECLARATION.match(content[:200])):
        declared = found.group(2).decode("ascii").lower()
        if declared not in _UTF8_NAMES:
            try:
                text = content.decode(codecs.lookup(declared).name)
            except (LookupError, UnicodeDecodeError):
                return content
            return _declare_utf8(text.encode("utf-8"))
    return content


def legacy_as_utf8(content: bytes) -> bytes | None:
    """A page that is not valid UTF-8, read as Windows-1252 and given back as UTF-8; None when it was valid
    UTF-8 (so its parse failure has another cause)."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace").encode("utf-8")
    return None


def _declare_utf8(content: bytes) -> bytes:
    return _XML_DECLARATION.sub(rb"\g<1>UTF-8\g<3>", content, count=1)


# "\uD83D\uDE00" (a pair: one astral character) or a lone half; what follows each must not be read as hex
_SURROGATE_ESCAPE = re.compile(
    rb"\\u([dD][89abAB][0-9a-fA-F]{2})(?:\\u([dD][c-fC-F][0-9a-fA-F]{2}))?|\\u([dD][c-fC-F][0-9a-fA-F]{2})"
)


def repair_surrogate_escapes(content: bytes, json: bool) -> bytes | None:
    """The page with its escaped UTF-16 halves made valid; None when it has none (its parse failure has
    another cause). Exporters that cut texts in UTF-16 leave half an escaped emoji ("\\ud83d" alone), which
    no RDF parser takes: the half becomes U+FFFD. Turtle and N-Triples take no pair either (an astral character
    is written "\\U0001F600" there): a pair becomes that escape; JSON keeps its pairs."""

    def repaired(match: re.Match[bytes]) -> bytes:
        high, low = match.group(1), match.group(2)
        if high is None or low is None:
            return rb"\uFFFD"
        if json:
            return match.group()
        code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
        return b"\\U%08X" % code

    fixed, count = _SURROGATE_ESCAPE.subn(repaired, content)
    return fixed if count else None
