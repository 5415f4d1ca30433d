"""The command line's own words in English and Bahasa Indonesia (``--lang``).

Criterion and tier names come from the ruleset, which carries both languages.
"""

from __future__ import annotations

LANGUAGES = ("en", "id")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "error": "error: {message}",
        "field_errors": "{file}: {count} field error(s): {details}",
        "out_format": "--out must end in one of {formats}",
        "rejected_row": "rejected row {row}{who}: {details}",
        "more_rejected": "... and {count} more rejected rows",
        "rejected_written": "rejected rows written to {path}",
        "skipped": "skipped {count} non-data rows: {rows}",
        "summary": "received {received}, scored {scored}, rejected {rejected}",
        "table_written": "ranked table written to {path}",
        "no_profiles": "no profiles scored",
        "tiers": "tiers: ",
        "progress": "scoring",
        "rows": " rows",
        "col.rank": "#",
        "col.sme_id": "sme_id",
        "col.name": "name",
        "col.sector": "sector",
        "col.score": "score",
        "col.tier": "tier",
        "col.next_step": "next step",
        "col.knockouts": "knock-out",
    },
    "id": {
        "error": "galat: {message}",
        "field_errors": "{file}: {count} isian salah: {details}",
        "out_format": "--out harus berakhiran salah satu dari {formats}",
        "rejected_row": "baris {row}{who} ditolak: {details}",
        "more_rejected": "... dan {count} baris lain ditolak",
        "rejected_written": "baris yang ditolak ditulis ke {path}",
        "skipped": "{count} baris bukan data dilewati: {rows}",
        "summary": "diterima {received}, dinilai {scored}, ditolak {rejected}",
        "table_written": "tabel peringkat ditulis ke {path}",
        "no_profiles": "tidak ada profil yang dinilai",
        "tiers": "tingkat: ",
        "progress": "menilai",
        "rows": " baris",
        "col.rank": "#",
        "col.sme_id": "sme_id",
        "col.name": "nama",
        "col.sector": "sektor",
        "col.score": "skor",
        "col.tier": "tingkat",
        "col.next_step": "langkah berikutnya",
        "col.knockouts": "gugur",
    },
}


def text(lang: str, key: str, **params) -> str:
    """The message ``key`` in ``lang``, filled with ``params``."""
    return MESSAGES[lang][key].format(**params)
