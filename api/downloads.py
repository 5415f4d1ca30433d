"""Batch results as a flat table, sent as CSV or XLSX with formula cells neutralised."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
from flask import Response, current_app

from scoring.fields import MARKETS
from scoring.writers import write_table

MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TOP_ACTIONS = 3
_LEADING = ("sme_id", "name", "sector", "score", "previous_score", "change", "tier")


def _join(values: Sequence[str]) -> str:
    return "; ".join(values)


def results_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """One row per result: the columns of ``ScoreTable.to_frame`` plus the change columns."""
    categories = list(dict.fromkeys(c for row in rows for c in row["category_scores"]))
    targeted = {m for row in rows for m in row["market_readiness"]}
    markets = [m for m in MARKETS if m in targeted]
    table = []
    for row in rows:
        flat = {name: row.get(name) for name in _LEADING}
        flat["rules_score"] = row["rules_score"]
        flat["ml_probability"] = row["ml_probability"]
        for category in categories:
            flat[f"category_{category}"] = row["category_scores"].get(category)
        for market in markets:
            readiness = row["market_readiness"].get(market)
            flat[f"market_{market}"] = None if readiness is None else readiness["score"]
        flat["knockouts"] = _join(row["knockouts"])
        flat["top_actions"] = _join(
            f"{a['criterion']} (+{a['gain']:.1f})" for a in row["action_plan"][:TOP_ACTIONS]
        )
        flat["assumed"] = _join(row["assumed"])
        flat["model_version"] = row["model_version"]
        flat["ruleset_version"] = row["ruleset_version"]
        flat["scored_at"] = row["scored_at"]
        table.append(flat)
    return pd.DataFrame(table)


def table_response(frame: pd.DataFrame, *, format: str, filename: str) -> Response:
    """``frame`` as a CSV or XLSX download (``scoring.writers`` neutralises formulas)."""
    buffer = io.BytesIO()
    write_table(frame, buffer, format=format)
    return current_app.response_class(
        buffer.getvalue(),
        mimetype=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{format}"'},
    )
