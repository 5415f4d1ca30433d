"""Retraining from the office's own outcomes with everything recorded through the HTTP API:
a generated cohort uploaded as a batch, its support decisions recorded in one bulk request,
follow-ups posted one by one (a share left censored), then ``sme-export train
--from-outcomes``, the comparison with the active model, promotion through the guard, and
the model card that counts the real outcomes and their period."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from click.testing import CliRunner
from governance_helpers import copy_models

from api.cli import main
from scoring.audit.modelcard import model_card
from scoring.contract import fields as F
from scoring.model import synth
from scoring.model.additive import active_version, load_model
from scoring.rules.loading import load_ruleset

pytest_plugins = ["api_fixtures"]

DECIDED = dt.date(2024, 3, 1)


def _profiles(n: int) -> tuple[list[dict], list[int]]:
    frame = synth.generate_profiles(n, seed=31)
    labels = frame[F.LABEL].astype(int).tolist()
    records = []
    for i, row in enumerate(frame.drop(columns=[F.LABEL]).to_dict("records")):
        record = {}
        for key, value in row.items():
            if key in F.PERSONAL_COLUMNS:  # a `score` key may not send them
                continue
            if isinstance(value, np.ndarray):
                value = list(value)
            elif isinstance(value, float) and np.isnan(value):
                continue
            record[key] = value.item() if isinstance(value, np.generic) else value
        record["sme_id"] = f"RT-{i:03d}"
        records.append(record)
    return records, labels


def test_outcomes_recorded_through_the_api_train_a_promotable_model(make_app, make_key, tmp_path):
    models = copy_models(tmp_path / "models")
    app = make_app(MODELS_DIR=str(models), PAGE_SIZE_MAX=500)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "score", "read")}
    profiles, labels = _profiles(160)

    uploaded = client.post(
        "/api/v1/batches?cohort=Go%20Export%202024", json=profiles, headers=headers
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["scored"] == 160

    decisions = [
        {
            "sme_id": p["sme_id"],
            "decision": "support",
            "support_kind": "export_coaching",
            "decided_on": str(DECIDED),
        }
        for p in profiles
    ]
    bulk = client.post(
        "/api/v1/decisions/bulk",
        json={"decisions": decisions, "shortlist": {"cohort": "Go Export 2024", "capacity": 160}},
        headers=headers,
    )
    assert bulk.status_code == 201, bulk.get_json()

    censored = 0
    for i, (profile, label) in enumerate(zip(profiles, labels, strict=True)):
        if i % 10 == 0:  # asked after six months only: the label stays unknown
            followup = {"followup_date": str(DECIDED + dt.timedelta(days=182)), "exported": False}
            censored += 1
        elif label:
            followup = {
                "followup_date": str(DECIDED + dt.timedelta(days=370)),
                "exported": True,
                "first_export_date": str(DECIDED + dt.timedelta(days=200)),
                "destination_markets": ["JP"],
            }
        else:
            followup = {"followup_date": str(DECIDED + dt.timedelta(days=370)), "exported": False}
        answer = client.post(
            "/api/v1/outcomes",
            json={"sme_id": profile["sme_id"], "learned_via": "phone_call", **followup},
            headers=headers,
        )
        assert answer.status_code == 201, answer.get_json()

    listed = client.get("/api/v1/decisions?per_page=500", headers=headers).get_json()
    known = [d for d in listed["items"] if d["exported_within_12m"] is not None]
    assert (len(known), listed["total"] - len(known)) == (144, censored)
    assert sum(d["exported_within_12m"] for d in known) == sum(
        label for i, label in enumerate(labels) if i % 10
    )

    url = app.config["DATABASE_URL"]
    runner = CliRunner()
    registered = {p.name for p in models.iterdir() if p.is_dir()}
    trained = runner.invoke(
        main,
        [
            *("train", "--from-outcomes", "--database-url", url, "--models-dir", str(models)),
            *("--cv-folds", "3", "--cv-repeats", "1"),
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert f"{censored}" in trained.output  # the censored decisions left out are counted
    [version] = {p.name for p in models.iterdir() if p.is_dir()} - registered
    manifest = json.loads((models / version / "manifest.json").read_text())
    assert manifest["training_data"]["origin"] == "real outcomes"
    assert manifest["training_data"]["real_outcomes"] == 144
    assert manifest["training_data"]["outcome_period"] == {
        "from": str(DECIDED),
        "until": str(DECIDED),
    }
    assert manifest["comparison"]["rows"] == 144  # judged against the active model, same rows

    # On synthetic outcomes the active model (fitted on 30,000 rows of the same generator)
    # ranks better: the guard refuses, and only a forced promotion with a reason goes on.
    promoted = runner.invoke(main, ["models", "promote", version, "--models-dir", str(models)])
    assert promoted.exit_code == 1
    assert f"promotion of {version} refused: discrimination: ROC AUC" in promoted.output
    promoted = runner.invoke(
        main,
        [
            *("models", "promote", version, "--models-dir", str(models), "--force"),
            *("--reason", "first model of the office's own outcomes"),
        ],
    )
    assert promoted.exit_code == 0, promoted.output
    assert active_version(models) == version
    card = model_card(load_model(models), ruleset=load_ruleset())
    assert card["training_data"]["origin"] == "real outcomes"
    assert card["training_data"]["synthetic"] is False
    assert card["training_data"]["real_outcomes"] == 144
    assert card["training_data"]["origin_text"] == "real outcomes: 144 (2024-03-01 to 2024-03-01)"
