"""The interface's languages: English msgids in the templates, French from `locales/fr/LC_MESSAGES/messages.po`.

The .po file is compiled in memory when this module is imported (Babel's read_po + write_mo, a few ms), so
there is no build step and no committed .mo to drift from its source; `tests/test_web_i18n.py` checks that
every message the templates use has a French translation.

The language is chosen per request: `?lang=` (then kept in a cookie), else the cookie, else the best match
of Accept-Language, else French.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from ..api.negotiation import accepted_languages

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
COOKIE = "lang"
LOCALES = Path(__file__).parent / "locales"


def _compile(lang: str) -> NullTranslations:
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():  # English is the msgids themselves
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


TRANSLATIONS = {lang: _compile(lang) for lang in LANGUAGES}
_BABEL_LOCALES = {lang: Locale.parse(lang) for lang in LANGUAGES}
GROUP_SEPARATOR = {lang: _BABEL_LOCALES[lang].number_symbols["latn"]["group"] for lang in LANGUAGES}
DECIMAL_MARK = {lang: _BABEL_LOCALES[lang].number_symbols["latn"]["decimal"] for lang in LANGUAGES}


def from_accept_language(header: str | None) -> str | None:
    """The first of our languages in the client's order of preference (q-values honoured)."""
    return next((lang for lang in accepted_languages(header) if lang in LANGUAGES), None)


def choose(query_lang: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (query_lang, cookie):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Language:
    """What a template needs to speak one language: `_`, `ngettext`, number and date formatting."""

    code: str

    def gettext(self, message: str, **values: Any) -> str:
        text = TRANSLATIONS[self.code].gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = TRANSLATIONS[self.code].ngettext(singular, plural, n)
        return text.format(n=self.number(n), **values)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        """Grouped digits and decimal mark of the language (CLDR's symbols; Python formats: a page shows
        hundreds of counts, and Babel's pattern formatting costs ~0.1 ms each)."""
        if value is None:
            return ""
        text = f"{value:,.{digits}f}" if digits or not isinstance(value, int) else f"{value:,}"
        return (
            text.replace(",", "\0")
            .replace(".", DECIMAL_MARK[self.code])
            .replace("\0", GROUP_SEPARATOR[self.code])
        )

    def date(self, value: str | None) -> str:
        """An ISO date (YYYY, YYYY-MM, YYYY-MM-DD or a timestamp) in the language's medium format."""
        return _date(self.code, value) if value else ""


@lru_cache(maxsize=16384)
def _date(code: str, value: str) -> str:
    """`Language.date`, kept: a page of results shows the same few dates again and again."""
    try:
        if len(value) == 4:
            return value
        if len(value) == 7:
            return format_date(date.fromisoformat(value + "-01"), "MMMM y", locale=_BABEL_LOCALES[code])
        if len(value) == 10:
            return format_date(date.fromisoformat(value), "medium", locale=_BABEL_LOCALES[code])
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.time() == time(0) and stamp.utcoffset() in (None, timedelta(0)):
            # midnight: how many sources write a date ("2016-01-01T00:00:00"), not a moment worth a time
            return format_date(stamp.date(), "medium", locale=_BABEL_LOCALES[code])
        return format_datetime(stamp, "medium", tzinfo=stamp.tzinfo, locale=_BABEL_LOCALES[code])
    except ValueError:
        return value
