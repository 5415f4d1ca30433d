"""Bahasa Indonesia and English for the staff pages: catalogues, the current language, ``t``.

Every ``<domain>.<lang>.yaml`` in ``translations/`` is loaded and merged when the app
starts (nested keys are joined with dots); the web pages' own texts are ``web.*.yaml``
and other parts of the service add their own domain files. Criterion, tier, category and
market names come from the active ruleset, which carries both languages. Validation
messages of the profile contract (English in ``scoring``) are matched to catalogue keys
here, so an officer reads them in the language of the page.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

import yaml
from flask import Flask, current_app, g, has_app_context, has_request_context, session

from scoring.contract import messages as V
from scoring.contract.choices import choice_labels

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
EXTENSION = "sme_export.i18n"
#: The ``g`` attribute of the language ``language`` sets for a while.
_LANGUAGE_OVERRIDE = "sme_export_language"
#: libyaml's loader where it is built in: the pure-Python one takes seconds for these files.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogueError(ValueError):
    """A translation file is unreadable, or the languages do not have the same keys."""


def _flatten(data: Mapping, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


def load_catalogues(folder: Path = TRANSLATIONS_DIR) -> dict[str, dict[str, str]]:
    """``{lang: {key: text}}`` merged from every ``*.<lang>.yaml`` in ``folder``.

    The names of sectors, legal forms and genders come from ``scoring/labels`` (the same
    names files may give). Refuses a key defined twice and a key present in one language
    only, so a page can never fall back to the other language.
    """
    catalogues: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for lang in LANGUAGES:
        for path in sorted(folder.glob(f"*.{lang}.yaml")):
            text = path.read_text(encoding="utf-8")
            data = yaml.load(text, Loader=_YAML_LOADER) or {}  # noqa: S506 (a safe loader)
            if not isinstance(data, Mapping):
                raise CatalogueError(f"{path.name}: expected a mapping of keys to texts")
            for key, text in _flatten(data).items():
                if key in catalogues[lang]:
                    raise CatalogueError(f"{path.name}: key {key!r} is defined twice")
                catalogues[lang][key] = text
        for key, text in _flatten(choice_labels(lang)).items():
            if key in catalogues[lang]:
                raise CatalogueError(f"{key!r} is named in scoring/labels, not in {folder.name}")
            catalogues[lang][key] = text
    first, *others = LANGUAGES
    for lang in others:
        only = set(catalogues[first]) ^ set(catalogues[lang])
        if only:
            raise CatalogueError(
                f"keys not in both languages: {', '.join(sorted(only)[:10])}"
                + (" ..." if len(only) > 10 else "")
            )
    return catalogues


@cache
def _shipped_catalogues() -> dict[str, dict[str, str]]:
    """The package's catalogues, read once per process (they do not change while it runs)."""
    return load_catalogues()


def shipped_catalogue(lang: str) -> dict[str, str]:
    """The package's texts in ``lang``, for use outside the app (the command line)."""
    return _shipped_catalogues()[lang]


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = _shipped_catalogues()
    app.jinja_env.globals.update(
        t=t,
        current_language=current_language,
        ruleset_label=ruleset_label,
        error_message=error_message,
        LANGUAGES=LANGUAGES,
    )
    app.jinja_env.filters["decimal"] = decimal
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["form_value"] = form_value
    app.jinja_env.filters["local_time"] = local_time


def current_language() -> str:
    """The language of this request's pages: the one ``language`` sets, else the session's
    choice, else Bahasa Indonesia."""
    if has_app_context() and (chosen := g.get(_LANGUAGE_OVERRIDE)) is not None:
        return chosen
    if has_request_context():
        lang = session.get("lang")
        if lang in LANGUAGES:
            return lang
    return DEFAULT_LANGUAGE


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Texts, numbers and times in ``lang`` while inside, whatever the session's choice
    (a report in its reader's language); the session itself is left alone."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    previous = g.get(_LANGUAGE_OVERRIDE)
    setattr(g, _LANGUAGE_OVERRIDE, lang)
    try:
        yield
    finally:
        setattr(g, _LANGUAGE_OVERRIDE, previous)


def has_text(key: str) -> bool:
    return key in current_app.extensions[EXTENSION][DEFAULT_LANGUAGE]


def t(key: str, /, **params: Any) -> str:
    """The text of ``key`` in the current language, with ``{name}`` placeholders filled.

    An unknown key is shown as the key itself (a test keeps templates free of them).
    """
    text = current_app.extensions[EXTENSION][current_language()].get(key, key)
    return text.format(**params) if params else text


def decimal(value: float | None, digits: int = 1, *, sign: bool = False) -> str:
    """A number with ``digits`` decimals as the page's language writes it (``64,9`` in
    Bahasa Indonesia, ``64.9`` in English); a dash for no value."""
    if value is None:
        return "–"
    text = f"{value:{'+' if sign else ''}.{digits}f}"
    return text.replace(".", ",") if current_language() == "id" else text


def number(value: float | None, digits: int = 0) -> str:
    """A number with thousands grouped as the page's language writes it (``2.400.000.000``
    in Bahasa Indonesia, ``2,400,000,000`` in English); a dash for no value."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if current_language() == "id":
        text = text.translate(str.maketrans(",.", ".,"))
    return text


def form_value(value: Any) -> str:
    """A value as a form input shows it, so that posting it back reads the same value:
    whole numbers without ``.0``, no thousands marks, the page language's decimal mark."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text:
        text = f"{value:.15f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if current_language() == "id" else text


#: Western Indonesian Time (Asia/Jakarta): UTC+7 all year, no daylight saving.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
_MONTHS = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


def local_time(value: str | dt.datetime | None) -> str:
    """A moment (ISO 8601 text or a datetime; without a zone it is UTC) in WIB as the page's
    language writes it: ``3 Des 2026 12.48 WIB`` or ``3 Dec 2026 12:48 WIB``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(WIB)
    lang = current_language()
    clock = f"{local:%H}{'.' if lang == 'id' else ':'}{local:%M}"
    return f"{local.day} {_MONTHS[lang][local.month - 1]} {local.year} {clock} WIB"


# --- ruleset names ---------------------------------------------------------------------------


def ruleset_label(kind: str, ident: str, *, sector: str | None = None) -> str:
    """``ruleset_text`` of the active ruleset (templates call it)."""
    from api.services.scorer import get_scorer

    return ruleset_text(get_scorer().ruleset, kind, ident, sector=sector)


def ruleset_text(ruleset, kind: str, ident: str, *, sector: str | None = None) -> str:
    """The name of a ruleset item in the current language.

    ``kind`` is ``criterion``, ``recommendation``, ``tier``, ``category`` or ``market``;
    a recommendation is the one for an SME of ``sector`` (some criteria advise each sector
    apart). An id the ruleset does not know (a score made with another ruleset) is shown as is.
    """
    lang = current_language()
    if kind in ("criterion", "recommendation"):
        for criterion in ruleset.criteria:
            if criterion.id == ident:
                if kind == "criterion":
                    return criterion.label[lang]
                return criterion.recommendation_for(sector)[lang]
        return ident
    items = {"tier": ruleset.tiers, "category": ruleset.categories, "market": ruleset.markets}
    for item in items[kind]:
        if item.id == ident:
            return item.label[lang]
    return ident


# --- validation messages ---------------------------------------------------------------------


def _pattern(template: str) -> re.Pattern:
    """A regex matching the messages made from a ``str.format`` template."""
    parts = []
    for literal, name, _, _ in Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>.*?)")
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


_MESSAGES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (_pattern(template), key)
    for template, key in (
        (V.MISSING, "error.missing"),
        (V.NOT_STRING, "error.not_string"),
        (V.NOT_INTEGER, "error.not_integer"),
        (V.NOT_WHOLE, "error.not_whole"),
        (V.NOT_NUMBER, "error.not_number"),
        (V.NOT_BOOLEAN, "error.not_boolean"),
        (V.NOT_LIST, "error.not_list"),
        (V.TOO_LONG, "error.too_long"),
        (V.UNKNOWN_VALUE, "error.unknown_value"),
        (V.UNKNOWN_PERSONAL_VALUE, "error.unknown_personal_value"),
        (V.DUPLICATES, "error.duplicates"),
        (V.EXPORT_YEARS_WITHOUT_EXPORTS, "error.export_years"),
        (V.PATTERN_MESSAGES[V.SME_ID_PATTERN], "error.sme_id_pattern"),
        (V.PATTERN_MESSAGES[V.HS_CODE_PATTERN], "error.hs_code_pattern"),
        ("Must be between {low} and {high}.", "error.between"),
        ("Must be at least {low}.", "error.at_least"),
        ("Must be at most {high}.", "error.at_most"),
        ("Unknown field.", "error.unknown_field"),
    )
)


def error_message(message: str) -> str:
    """A contract validation message in the current language (as is if not recognised)."""
    return contract_message(message, current_app.extensions[EXTENSION][current_language()])


def contract_message(message: str, catalogue: Mapping[str, str]) -> str:
    """A contract validation message in the language of ``catalogue`` (as is if not
    recognised); the pages and the command line share it."""
    for pattern, key in _MESSAGES:
        match = pattern.match(message)
        if match:
            params = match.groupdict()
            text = catalogue.get(key, key)
            return text.format(**params) if params else text
    return message
