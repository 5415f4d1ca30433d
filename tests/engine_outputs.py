"""Digests of everything the scoring engine outputs, on fixed inputs: the byte-identity guard.

``tests/test_engine_outputs_unchanged.py`` compares these digests with the ones recorded in
``tests/data/engine_output_digests.json``. Record them again only when an output change is
intended (a new ruleset or model version, a deliberate change of the output format):

    .venv/bin/python tests/engine_outputs.py --write

The inputs: the example cohort (CSV), the whole synthetic training set (Parquet), random
canonical profiles (``conftest.random_profiles``), the hand-made edge profiles in
``tests/data/edge_profiles.json`` (as one batch and one by one through the JSON schema),
and the body of ``POST /api/v1/scores`` for the example profile. Every case is serialised
canonically: the records of both languages as compact JSON in their own key order, the
flat table as CSV with its column types.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = ROOT / "data"
EDGE_PROFILES = TESTS / "data" / "edge_profiles.json"
DIGESTS = TESTS / "data" / "engine_output_digests.json"
FIXED_TIME = "2026-11-28T10:00:00Z"
LANGUAGES = ("en", "id")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def records_bytes(records: list[dict]) -> bytes:
    """Records as compact JSON, keys in their own order, floats as Python writes them."""
    return json.dumps(records, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def plain_leaves(value) -> Iterator[type]:
    """The type of every leaf of a record (to check they are Python's own, not NumPy's)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from plain_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_leaves(item)
    else:
        yield type(value)


def table_digests(table) -> dict[str, str]:
    """Digests of a ``ScoreTable``'s records in both languages and of its flat table."""
    out = {
        f"records_{lang}": sha256(records_bytes(table.to_records(lang=lang))) for lang in LANGUAGES
    }
    frame = table.to_frame()
    out["frame_csv"] = sha256(frame.to_csv(index=False, lineterminator="\n").encode())
    out["frame_dtypes"] = ",".join(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())
    return out


def edge_profiles() -> list[dict]:
    return [case["profile"] for case in json.loads(EDGE_PROFILES.read_text(encoding="utf-8"))]


# --- the cases --------------------------------------------------------------------------


def _file_case(scorer, path: Path, *, require_label: bool = False) -> dict[str, str]:
    from scoring.contract.validate import validate_table
    from scoring.files.readers import iter_tables

    digests: dict[str, str] = {}
    for k, raw in enumerate(iter_tables(path, chunk_rows=50_000)):
        batch = validate_table(raw, require_label=require_label)
        assert not batch.errors, batch.errors[:3]
        table = scorer.score(batch.profiles, assumed=batch.assumed, scored_at=FIXED_TIME)
        digests.update({f"chunk{k}_{name}": v for name, v in table_digests(table).items()})
    return digests


def cohort_csv(scorer) -> dict[str, str]:
    return _file_case(scorer, DATA / "cohort_bandung_2020.csv")


def training_parquet(scorer) -> dict[str, str]:
    return _file_case(scorer, DATA / "training.parquet", require_label=True)


def random_profiles(scorer) -> dict[str, str]:
    from conftest import random_profiles as generate

    from scoring.contract import fields as F

    frame = generate(5000, seed=2026)
    assumed = np.random.default_rng(2026).random((len(frame), len(F.ASSUMED_FIELDS))) < 0.1
    return table_digests(scorer.score(frame, assumed=assumed, scored_at=FIXED_TIME))


def edge_profiles_batch(scorer) -> dict[str, str]:
    from scoring.contract.validate import validate_records

    batch = validate_records(edge_profiles())
    assert not batch.errors, batch.errors[:3]
    return table_digests(scorer.score(batch.profiles, assumed=batch.assumed, scored_at=FIXED_TIME))


def edge_profiles_single(scorer) -> dict[str, str]:
    profiles = edge_profiles()
    return {
        f"records_{lang}": sha256(
            records_bytes(
                [scorer.score_profile(p, lang=lang, scored_at=FIXED_TIME) for p in profiles]
            )
        )
        for lang in LANGUAGES
    }


def http_bodies(scorer) -> dict[str, str]:
    """``POST /api/v1/scores`` of the example profile: the body as sent, ``scored_at``
    replaced by a fixed time; stored (English) and a dry run in Bahasa Indonesia."""
    from api import create_app, store
    from api.db import get_database, get_session, sqlite_url

    body = (DATA / "example_profile.json").read_bytes()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": sqlite_url(Path(tmp) / "api.db"),
                "SCORER": scorer,
                "RULESETS_DIR": str(Path(tmp) / "rulesets"),
            }
        )
        try:
            with app.app_context():
                session = get_session()
                _, key = store.create_api_key(session, name="guard", scopes=["score", "personal"])
                session.commit()
            client = app.test_client()
            headers = {"X-API-Key": key, "Content-Type": "application/json"}
            for name, path, status in (
                ("stored_en", "/api/v1/scores", 201),
                ("dry_run_id", "/api/v1/scores?dry_run=true&lang=id", 200),
            ):
                response = client.post(path, data=body, headers=headers)
                assert response.status_code == status, response.get_data(as_text=True)
                scored_at = response.get_json()["scored_at"].encode()
                data = response.get_data().replace(scored_at, FIXED_TIME.encode())
                out[name] = sha256(data)
                out[f"{name}_content_type"] = response.headers["Content-Type"]
        finally:
            get_database(app).engine.dispose()
    return out


CASES: dict[str, Callable] = {
    "cohort_csv": cohort_csv,
    "training_parquet": training_parquet,
    "random_profiles": random_profiles,
    "edge_profiles_batch": edge_profiles_batch,
    "edge_profiles_single": edge_profiles_single,
    "http_bodies": http_bodies,
}


def compute(scorer) -> dict[str, dict[str, str]]:
    return {name: case(scorer) for name, case in CASES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record the digests in {DIGESTS}")
    args = parser.parse_args()
    from scoring.engine import Scorer

    recorded = {
        "note": "Digests of the engine's outputs; recorded by tests/engine_outputs.py --write, "
        "only when an output change is intended.",
        **compute(Scorer.load()),
    }
    text = json.dumps(recorded, indent=2) + "\n"
    if args.write:
        DIGESTS.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
