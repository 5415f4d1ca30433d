"""The baseline for benchmarks/api_load.py: a Flask endpoint that only runs the model.

It parses the same JSON body the real endpoint gets and returns the bare
``predict_proba`` of the shipped estimator on an already-encoded row, so the
difference to ``POST /api/v1/scores`` is everything the service adds:
validation, rules, explanations, action plan, auth and serialisation.

Run: gunicorn 'benchmarks.bare_app:create_app()'
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask, jsonify, request

from scoring.contract.schema import validate_profile
from scoring.model.additive import load_model
from scoring.model.features import encode_features

PROFILE = Path(__file__).resolve().parent.parent / "data" / "example_profile.json"


def create_app() -> Flask:
    app = Flask(__name__)
    model = load_model()
    row = encode_features(validate_profile(json.loads(PROFILE.read_text())).profiles)

    @app.post("/bare")
    def bare():
        request.get_json()
        return jsonify({"ml_probability": float(model.estimator.predict_proba(row)[0, 1])})

    return app
