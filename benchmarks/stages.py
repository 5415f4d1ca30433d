"""What one score costs, stage by stage: for one API request and for a chunk of 100,000 rows.

The stages, in the order the service runs them:

- **parse**: one request: ``json.loads`` of the body (``data/example_profile.json``);
  chunk: reading the rows from a Parquet file (``scoring.files.readers.iter_tables``).
- **validate**: one request: the JSON profile checked against the contract and turned into
  canonical columns, plus the contract dict of the profile that is stored; chunk:
  ``validate_table`` and the canonical columns.
- **rules**: every criterion, category and market readiness (``Ruleset.evaluate``).
- **model**: the feature encoding and the model's probability (lookup tables + calibration).
- **blend**: score and tier.
- **reasons**: the top signed model factors.
- **action plan**: the exact gain of each missed, actionable criterion.
- **serialise**: the score records (and, for one request, the response body as the
  endpoint writes it); for the chunk also the flat table written as Parquet.
- **store**: one request: profile, score, events and audit entry written to SQLite and
  committed, as ``POST /api/v1/scores`` does; the example profile is stored under
  ``--smes`` ids in turn (1,000: each SME has a short history, as in an office's use);
  chunk: the same for 100,000 SMEs in one transaction, on a fresh database each repeat.

For one request, the whole ``POST /api/v1/scores`` through Flask's test client is measured
in the same rounds; what it costs beyond the stages is the HTTP layer (routing, API key
check, rate limit, query arguments, response). Every stage is timed in rounds (the median
of ``--repeats``; one request: the mean over ``--requests`` calls within a round).

Usage: python benchmarks/stages.py [--repeats 5] [--requests 200] [--rows 100000] [--smes 1000]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "example_profile.json"
FIXED_TIME = "2026-11-28T10:00:00Z"
STAGES = (
    "parse",
    "validate",
    "rules",
    "model",
    "blend",
    "reasons",
    "action plan",
    "serialise",
    "store",
)


# --- the engine's stages, one at a time --------------------------------------------------


def prepare_profile(data: dict):
    """(canonical columns, assumed flags, contract dict, personal) of one JSON profile."""
    from scoring.contract import schema

    if hasattr(schema, "read_profile"):
        profile = schema.read_profile(data)
        return profile.columns, profile.assumed, profile.record, profile.personal
    from scoring.contract.columns import ProfileColumns
    from scoring.contract.fields import ASSUMED_FIELDS
    from scoring.contract.frames import profiles_to_records

    batch = schema.validate_profile(data)
    assumed = batch.assumed.reindex(columns=list(ASSUMED_FIELDS), fill_value=False)
    personal = batch.personal.iloc[0].to_dict()
    return (
        ProfileColumns.of(batch.profiles),
        assumed.to_numpy(dtype=bool),
        profiles_to_records(batch.profiles)[0],
        personal,
    )


def engine_stages(scorer, columns, assumed) -> tuple[dict[str, Callable], Callable]:
    """One callable per engine stage, each on the previous stages' results (computed once),
    and one that builds the ``ScoreTable`` from them."""
    from scoring import engine
    from scoring.model.features import encode_features

    ruleset, model = scorer.ruleset, scorer.model
    rules = ruleset.evaluate(columns)

    from scoring.model import additive

    def run_model():
        X = encode_features(columns)
        by_feature = model.additive.contributions_by_feature(X)
        if hasattr(additive, "column_sums"):  # summed without a transposed copy
            decision = model.additive.intercept + additive.column_sums(by_feature)
            return by_feature, None, decision, model.probability_from_decision(decision)
        contributions = np.ascontiguousarray(by_feature.T)
        decision = model.additive.intercept + contributions.sum(axis=1)
        return by_feature, contributions, decision, model.probability_from_decision(decision)

    by_feature, contributions, decision, probability = run_model()

    def run_blend():
        score = engine.blend(ruleset, rules.rules_score, probability)
        return score, ruleset.assign_tiers(score, rules.knockout_failed)

    score, tier = run_blend()
    stages = {
        "rules": lambda: ruleset.evaluate(columns),
        "model": run_model,
        "blend": run_blend,
        # the contributions row-major first, where the engine no longer keeps them so
        "reasons": lambda: engine._reasons(
            model,
            np.ascontiguousarray(by_feature.T) if contributions is None else contributions,
            decision,
            probability,
        ),
        "action plan": lambda: engine._action_gains(
            columns, rules, by_feature, decision, score, ruleset, model
        ),
    }
    groups, effects = stages["reasons"]()
    gains = stages["action plan"]()

    # Reasons are a table's fields, or computed when first asked for (``explain``).
    lazy = "explain" in engine.ScoreTable.__dataclass_fields__
    reasons = (
        {"explain": lambda: (groups, effects)}
        if lazy
        else {
            "reason_groups": groups,
            "reason_effects": effects,
        }
    )

    def table():
        return engine.ScoreTable(
            sme_id=np.asarray(columns["sme_id"], dtype=object),
            score=score,
            tier=tier,
            rules_score=rules.rules_score,
            ml_probability=probability,
            rules=rules,
            **reasons,
            gains=gains,
            assumed=assumed,
            ruleset=ruleset,
            model_version=model.version,
            scored_at=FIXED_TIME,
        )

    return stages, table


def response_body(app, record: dict) -> bytes:
    """The body ``POST /api/v1/scores`` answers for ``record``."""
    from api.blueprints import scores

    if hasattr(scores, "as_documented"):
        return app.json.dumps(scores.as_documented(record)).encode()
    from api.http.schemas import ScoreRecordSchema

    return app.json.dumps(ScoreRecordSchema().dump(record)).encode()


# --- timing --------------------------------------------------------------------------------


def rounds(calls: dict[str, Callable], *, repeats: int, number: int) -> dict[str, float]:
    """Median over ``repeats`` rounds of each call's mean time (s) over ``number`` calls;
    within a round the calls take turns, in alternating order between rounds."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for k in range(repeats):
        for name in names if k % 2 == 0 else names[::-1]:
            began = time.perf_counter()
            for _ in range(number):
                calls[name]()
            times[name].append((time.perf_counter() - began) / number)
    return {name: statistics.median(values) for name, values in times.items()}


def service_app(folder: Path, name: str):
    from api import create_app

    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / name}",
            "RULESETS_DIR": str(folder / "rulesets"),
            "RATE_LIMIT": "1000000/minute",
            "BATCH_RUNNER": False,
        }
    )


# --- one request ------------------------------------------------------------------------------


def one_request(scorer, folder: Path, *, repeats: int, number: int, smes: int) -> dict[str, float]:
    from api import store
    from api.db import get_session

    body = EXAMPLE.read_bytes()
    data = json.loads(body)
    app = service_app(folder, "one.db")
    with app.app_context():
        session = get_session()
        _, key = store.create_api_key(session, name="bench", scopes=["score", "personal"])
        session.commit()
    client = app.test_client()
    headers = {"X-API-Key": key, "Content-Type": "application/json"}

    columns, assumed, profile, personal = prepare_profile(data)
    stages, table = engine_stages(scorer, columns, assumed)
    record = table().to_records()[0]
    given = {name: value for name, value in personal.items() if name in data}
    # The example profile under ``smes`` ids, stored in turn: each SME's history stays short.
    ids = [f"{data['sme_id']}-{k:05d}" for k in range(smes)]
    saved = itertools.cycle([({**profile, "sme_id": i}, {**record, "sme_id": i}) for i in ids])
    bodies = itertools.cycle([json.dumps({**data, "sme_id": i}).encode() for i in ids])

    def serialise() -> None:
        response_body(app, table().to_records()[0])

    def save() -> None:
        profile_k, record_k = next(saved)
        with app.app_context():  # a session of its own, as each request has
            session = get_session()
            store.save_scored(
                session,
                profiles=[profile_k],
                personal=[given],
                records=[record_k],
                cohort=None,
                batch_id=None,
                actor="key:bench",
            )
            session.commit()

    def request() -> None:
        response = client.post("/api/v1/scores", data=next(bodies), headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)

    calls = {
        "parse": lambda: json.loads(body),
        "validate": lambda: prepare_profile(data),
        **stages,
        "serialise": serialise,
        "store": save,
        "request": request,
    }
    for call in calls.values():  # warm up
        for _ in range(20):
            call()
    return rounds(calls, repeats=repeats, number=number)


# --- a chunk -----------------------------------------------------------------------------------


def chunk(scorer, folder: Path, *, rows: int, repeats: int) -> dict[str, float]:
    from api import store
    from api.db import get_session
    from scoring.contract.columns import ProfileColumns
    from scoring.contract.fields import ASSUMED_FIELDS
    from scoring.contract.frames import profiles_to_records
    from scoring.contract.validate import validate_table
    from scoring.files.readers import iter_tables
    from scoring.model import synth

    path = folder / "chunk.parquet"
    frame = synth.generate_profiles(rows, seed=7).drop(columns=["exported_within_12m"])
    frame.to_parquet(path, index=False)

    def parse():
        return next(iter(iter_tables(path, chunk_rows=rows)))

    raw = parse()

    def validate():
        batch = validate_table(raw)
        assumed = batch.assumed.reindex(columns=list(ASSUMED_FIELDS), fill_value=False)
        return batch, ProfileColumns.of(batch.profiles), assumed.to_numpy(dtype=bool)

    batch, columns, assumed = validate()
    assert batch.rejected == 0, batch.errors[:3]
    stages, table = engine_stages(scorer, columns, assumed)
    scored = table()

    def records() -> None:
        json.dumps(scored.to_records())

    def flat_table() -> None:
        scored.to_frame().to_parquet(io.BytesIO(), index=False)

    calls = {"parse": parse, "validate": validate, **stages}
    calls["serialise"] = records
    calls["serialise: flat table to Parquet"] = flat_table
    out = rounds(calls, repeats=repeats, number=1)

    stored = []
    records_ = scored.to_records()
    for k in range(max(1, min(repeats, 3))):  # a fresh database each time
        app = service_app(folder, f"chunk-{k}.db")
        with app.app_context():
            session = get_session()
            began = time.perf_counter()
            profiles = profiles_to_records(batch.profiles)
            store.save_scored(
                session,
                profiles=profiles,
                personal=[{}] * len(profiles),
                records=records_,
                cohort="bench",
                batch_id=None,
                actor="key:bench",
            )
            session.commit()
            stored.append(time.perf_counter() - began)
    out["store"] = statistics.median(stored)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="calls per stage and round")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--smes", type=int, default=1000, help="SMEs the single requests store in turn"
    )
    args = parser.parse_args()
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from scoring.engine import Scorer

    scorer = Scorer.load()
    with tempfile.TemporaryDirectory() as tmp:
        one = one_request(
            scorer, Path(tmp), repeats=args.repeats, number=args.requests, smes=args.smes
        )
        many = chunk(scorer, Path(tmp), rows=args.rows, repeats=args.repeats)

    load = Path("/proc/loadavg").read_text().split()[:3] if os.path.exists("/proc/loadavg") else []
    print(
        f"Python {sys.version.split()[0]}, model {scorer.model.version}, ruleset "
        f"{scorer.ruleset.version_string}, median of {args.repeats} rounds, "
        f"load average {' '.join(load)}"
    )
    rows = args.rows
    print(f"{'stage':<36}{'one request µs':>15}{f'{rows:,} rows s':>16}{'µs per row':>12}")
    for name in (*STAGES[:-1], "serialise: flat table to Parquet", "store"):
        single = f"{one[name] * 1e6:15.0f}" if name in one else f"{'':>15}"
        print(f"{name:<36}{single}{many[name]:16.3f}{many[name] / rows * 1e6:12.2f}")
    total = sum(one[name] for name in STAGES)
    total_chunk = sum(many[name] for name in STAGES)
    per_row = total_chunk / rows * 1e6
    print(f"{'sum of the stages':<36}{total * 1e6:15.0f}{total_chunk:16.3f}{per_row:12.2f}")
    print(f"{'POST /api/v1/scores (stored)':<36}{one['request'] * 1e6:15.0f}")
    print(f"{'  of which the HTTP layer':<36}{(one['request'] - total) * 1e6:15.0f}")


if __name__ == "__main__":
    main()
