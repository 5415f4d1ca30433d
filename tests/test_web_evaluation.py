"""The outcome evaluation page (``/outcomes/evaluation``) and training a candidate model
from the office's outcomes on the model versions page.

The page's numbers are checked against figures computed here from the crafted decisions
by counting and by the textbook formulas (Wilson, Newcombe, AUC as the share of
exporter/non-exporter pairs ranked right), in both languages."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update
from web_helpers import csrf_token, page_text

from api import store
from api.db import get_session
from api.services import ingest
from api.services.scorer import get_scorer
from api.tables import SupportDecision
from scoring.contract.fields import LABEL
from scoring.model import synth
from scoring.outcomes.evaluation import auc_interval

pytest_plugins = ["api_fixtures", "web_fixtures"]

TRANSLATIONS = Path(__file__).resolve().parent.parent / "api" / "web" / "translations"
Z = 1.959963984540054
TIERS = (("ready", 70), ("near_ready", 55), ("developing", 35), ("not_ready", 0))
TIER_NAMES = {
    "en": {
        "ready": "Export ready",
        "near_ready": "Nearly export ready",
        "developing": "Developing",
        "not_ready": "Not yet export ready",
    },
    "id": {
        "ready": "Siap ekspor",
        "near_ready": "Hampir siap ekspor",
        "developing": "Berkembang",
        "not_ready": "Belum siap ekspor",
    },
}
SCORE_BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100))
PROBABILITY_BANDS = ((0.0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, 1.0))
SCORES = (12.5, 27.0, 45.0, 58.0, 66.0, 74.0, 88.0, 95.5)
PROBABILITIES = (0.02, 0.07, 0.15, 0.3, 0.55, 0.8)
EARLY, LATE = dt.date(2024, 2, 1), dt.date(2024, 8, 1)
N = 48


# --- the crafted decisions ------------------------------------------------------------------


def _crafted(i: int) -> dict:
    """Decision ``i`` of the crafted data: what it rests on and its outcome (None: the
    follow-up came before the year was over)."""
    score = SCORES[(i // 4) % len(SCORES)]
    tier = next(tier for tier, low in TIERS if score >= low)
    label = 1 if (score >= 55 and i % 3 != 0) or (score < 55 and i % 5 == 0) else 0
    decision = "no_support" if i % 4 == 3 else "support"
    return {
        "i": i,
        "decision": decision,
        "support_kind": ("trade_fair" if i % 3 == 0 else "export_coaching")
        if decision == "support"
        else None,
        "score": score,
        "tier": tier,
        "ml_probability": PROBABILITIES[i % len(PROBABILITIES)],
        "label": None if i % 12 == 5 else label,
        "sector": "textile" if i % 2 == 0 else "food_beverage",
        "cohort": "kohort-a" if i % 3 == 0 else "kohort-b",
        "decided_on": EARLY if i < N // 2 else LATE,
    }


ROWS = [_crafted(i) for i in range(N)]


def _store_smes(app, frame, cohort: str) -> None:
    """Score and store the profiles of ``frame`` as the API does."""
    records = json.loads(frame.drop(columns=[LABEL]).to_json(orient="records"))
    with app.app_context():
        session = get_session()
        intake = ingest.read_records(records, max_rows=len(records))
        scored = ingest.score(intake, get_scorer(), lang="en")
        ingest.store_scored(session, scored, cohort=cohort, batch_id=None, actor="test")
        session.commit()


def _followup(row: dict, sme_id: str) -> dict:
    base = {"sme_id": sme_id, "learned_via": "phone_call"}
    decided = row["decided_on"]
    if row["label"] is None:  # asked three months in: not exported yet, the year not over
        return {**base, "followup_date": decided + dt.timedelta(days=90), "exported": False}
    if row["label"] == 1:
        return {
            **base,
            "followup_date": decided + dt.timedelta(days=200),
            "exported": True,
            "first_export_date": decided + dt.timedelta(days=100),
        }
    return {**base, "followup_date": decided + dt.timedelta(days=370), "exported": False}


def _record(app, rows: list[dict], frame) -> None:
    """Decisions for the SMEs of ``frame`` (one each, in order), with the score, tier and
    probability they rest on set to the crafted values, and their follow-ups."""
    ids = list(frame["sme_id"])
    with app.app_context():
        session = get_session()
        decisions = [
            {
                "sme_id": sme_id,
                "decision": row["decision"],
                "support_kind": row["support_kind"],
                "decided_on": row["decided_on"],
                "reason": None if row["decision"] == "support" else "Kuota penuh",
            }
            for row, sme_id in zip(rows, ids, strict=True)
        ]
        stored = store.record_decisions(session, decisions, actor="test")
        for row, decision in zip(rows, stored, strict=True):
            session.execute(
                update(SupportDecision)
                .where(SupportDecision.id == decision["id"])
                .values(
                    score=row["score"],
                    tier=row["tier"],
                    ml_probability=row["ml_probability"],
                    sector=row["sector"],
                )
            )
        store.record_followups(
            session,
            [_followup(row, sme_id) for row, sme_id in zip(rows, ids, strict=True)],
            actor="test",
        )
        session.commit()


@pytest.fixture
def crafted_app(web_app):
    """The web app with the 48 crafted decisions and their follow-ups."""
    frame = synth.generate_profiles(N, seed=11)
    in_a = [row["cohort"] == "kohort-a" for row in ROWS]
    _store_smes(web_app, frame[in_a], "kohort-a")
    _store_smes(web_app, frame[[not a for a in in_a]], "kohort-b")
    _record(web_app, ROWS, frame)
    return web_app


# --- the expected figures, computed here ----------------------------------------------------


def _wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    denominator = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denominator
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _in_band(value: float, bands, i: int) -> bool:
    low, high = bands[i]
    return low <= value < high or (i == len(bands) - 1 and value == high)


def _mark(text: str, lang: str) -> str:
    return text.replace(".", ",") if lang == "id" else text


def _percent(value: float | None, lang: str) -> str:
    """A proportion as the page shows it (the figures keep four decimals)."""
    if value is None:
        return "–"
    return _mark(f"{round(value, 4) * 100:.1f}", lang) + "%"


def _interval(low: str, high: str, lang: str) -> str:
    return f"{low} s.d. {high}" if lang == "id" else f"{low} to {high}"


def _rate_cells(group: list[dict], lang: str) -> list[str]:
    n, k = len(group), sum(r["label"] for r in group)
    if not n:
        return ["0", "0", "–", "–"]
    low, high = _wilson(k, n)
    return [
        str(n),
        str(k),
        _percent(k / n, lang),
        _interval(_percent(low, lang), _percent(high, lang), lang),
    ]


def _band_name(band, percent: bool = False) -> str:
    low, high = band
    return f"{low * 100:g}-{high * 100:g}%" if percent else f"{low:g}-{high:g}"


def _pairs_auc(rows: list[dict], key: str) -> float:
    """The share of (exporter, non-exporter) pairs the value ranks right; a tie is half."""
    yes = [r[key] for r in rows if r["label"] == 1]
    no = [r[key] for r in rows if r["label"] == 0]
    right = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in yes for b in no)
    return right / (len(yes) * len(no))


def _points(value: float, lang: str) -> str:
    text = _mark(f"{round(value, 4) * 100:+.1f}", lang)
    return f"{text} poin" if lang == "id" else f"{text} pp"


def _counts(rows: list[dict]) -> dict[str, str]:
    known = [r for r in rows if r["label"] is not None]
    return {
        "count-decisions": str(len(rows)),
        "count-known": str(len(known)),
        "count-censored": str(len(rows) - len(known)),
        "count-exported": str(sum(r["label"] for r in known)),
    }


# --- reading the page -----------------------------------------------------------------------


class _Tables(HTMLParser):
    """The cell texts of each table with an id, row by row; and the text of each element
    with an id."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table and self._open_tag_is_body():
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table and self.tables[self._table]:
            self._cell = []
        if tag not in ("input", "br", "meta", "link", "img", "line", "rect", "circle"):
            self._open.append((tag, attrs.get("id")))
            if attrs.get("id"):
                self.texts.setdefault(attrs["id"], "")

    def _open_tag_is_body(self) -> bool:
        return any(tag == "tbody" for tag, _ in self._open)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "table":
            self._table = None
        while self._open:
            name, _ = self._open.pop()
            if name == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._open:
            if ident:
                self.texts[ident] += data


def _read(response) -> _Tables:
    parser = _Tables()
    parser.feed(page_text(response))
    return parser


def _text(page: _Tables, ident: str) -> str:
    return " ".join(page.texts[ident].split())


def _get(client, lang: str, **query):
    client.post("/language", data={"lang": lang, "csrf_token": csrf_token(client, "/")})
    response = client.get("/outcomes/evaluation", query_string=query)
    assert response.status_code == 200, page_text(response)[:500]
    return response


# --- translations and roles -----------------------------------------------------------------


def _keys(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_both_languages_have_the_same_keys():
    english = yaml.safe_load((TRANSLATIONS / "evaluation.en.yaml").read_text(encoding="utf-8"))
    indonesian = yaml.safe_load((TRANSLATIONS / "evaluation.id.yaml").read_text(encoding="utf-8"))
    assert sorted(_keys(english)) == sorted(_keys(indonesian))


def test_every_role_may_open_the_page_and_it_is_in_the_menu(web_app, login):
    anonymous = web_app.test_client().get("/outcomes/evaluation")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for role in ("officer", "lead", "admin"):
        client = login(role)
        page = page_text(client.get("/outcomes/evaluation"))
        assert "<h1>Evaluasi hasil</h1>" in page
        assert "evaluation." not in page  # every text key is translated
        assert 'href="/outcomes/evaluation"' in page_text(client.get("/"))


# --- too few outcomes -----------------------------------------------------------------------


def test_with_too_few_outcomes_the_page_shows_the_counts_and_no_figures(web_app, login):
    rows = ROWS[:8]  # 6 supported: 5 known, 1 censored
    frame = synth.generate_profiles(len(rows), seed=3)
    _store_smes(web_app, frame, "kecil")
    _record(web_app, rows, frame)
    client = login("officer")
    supported = [r for r in rows if r["decision"] == "support"]
    for lang, words in (
        ("id", "Hasil terlalu sedikit untuk dinilai"),
        ("en", "Too few outcomes to judge"),
    ):
        response = _get(client, lang)
        page = _read(response)
        assert {k: _text(page, k) for k in _counts(supported)} == _counts(supported)
        message = _text(page, "too-few")
        assert message.startswith(words) and "5" in message and "30" in message
        html = page_text(response)
        assert "<svg" not in html and "<figure" not in html and "%" not in _text(page, "main")
        for table in ("by-tier", "by-score-band", "calibration", "supported-vs-not"):
            assert f'id="{table}"' not in html


def test_the_filters_narrow_the_counts_and_too_few_stays_below_thirty(crafted_app, login):
    client = login("lead")

    def where(**wanted) -> list[dict]:
        decisions = ("support", "no_support") if wanted.pop("both", False) else ("support",)
        return [
            r
            for r in ROWS
            if r["decision"] in decisions and all(r[k] == v for k, v in wanted.items())
        ]

    cases = [
        ({}, where()),
        ({"sector": "textile"}, where(sector="textile")),
        ({"cohort": "kohort-a"}, where(cohort="kohort-a")),
        ({"decided_from": "2024-06-01"}, where(decided_on=LATE)),
        ({"decided_until": "2024-02-01"}, where(decided_on=EARLY)),
        ({"support_kind": "trade_fair"}, where(support_kind="trade_fair")),
        ({"decision": "no_support"}, [r for r in ROWS if r["decision"] == "no_support"]),
        ({"decision": "all"}, where(both=True)),
        (
            {"decision": "all", "sector": "food_beverage", "cohort": "kohort-b"},
            where(both=True, sector="food_beverage", cohort="kohort-b"),
        ),
    ]
    for query, rows in cases:
        page = _read(_get(client, "en", **query))
        assert {k: _text(page, k) for k in _counts(rows)} == _counts(rows), query
        known = sum(r["label"] is not None for r in rows)
        assert ("too-few" in page.texts) == (known < 30), query
        assert ("by-tier" in page.tables) == (known >= 30), query


def test_a_filter_that_cannot_be_read_is_left_out_and_said(crafted_app, login):
    response = _get(login("officer"), "en", decided_from="14/03/2024", sector="mining")
    html = page_text(response)
    assert "Decided from: not a date" in html and "Sector: not one of the choices" in html
    page = _read(response)
    supported = [r for r in ROWS if r["decision"] == "support"]
    assert _text(page, "count-decisions") == str(len(supported))


# --- the figures ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_figures_are_exactly_those_of_the_crafted_outcomes(crafted_app, login, lang):
    page = _read(_get(login("officer"), lang))
    supported = [r for r in ROWS if r["decision"] == "support"]
    known = [r for r in supported if r["label"] is not None]
    assert len(known) >= 30
    assert {k: _text(page, k) for k in _counts(supported)} == _counts(supported)
    assert "too-few" not in page.texts

    by_tier = [
        [TIER_NAMES[lang][tier], *_rate_cells([r for r in known if r["tier"] == tier], lang)]
        for tier, _ in TIERS
    ]
    assert page.tables["by-tier"] == by_tier
    by_band = [
        [
            _band_name(band),
            *_rate_cells([r for r in known if _in_band(r["score"], SCORE_BANDS, i)], lang),
        ]
        for i, band in enumerate(SCORE_BANDS)
    ]
    assert page.tables["by-score-band"] == by_band

    # Discrimination: the AUC by counting pairs; its interval is the bootstrap's.
    auc_words = {"id": "interval 95%", "en": "95% interval"}[lang]
    for key in ("score", "ml_probability"):
        auc = _pairs_auc(known, key)
        boot = auc_interval([r["label"] for r in known], [r[key] for r in known])
        assert boot["auc"] == round(auc, 4)
        expected = f"{_mark(f'{auc:.3f}', lang)} ({auc_words} " + _interval(
            _mark(f"{boot['ci_low']:.3f}", lang), _mark(f"{boot['ci_high']:.3f}", lang), lang
        )
        row = page.tables["discrimination"][0 if key == "score" else 1]
        assert row[1] == expected + ")"
    assert "0.5" in _text(page, "auc-help") or "0,5" in _text(page, "auc-help")

    # Calibration: the Brier score and the reliability table.
    brier = sum((r["ml_probability"] - r["label"]) ** 2 for r in known) / len(known)
    assert _text(page, "brier") == _mark(f"{round(brier, 4):.4f}", lang)
    mean = sum(r["ml_probability"] for r in known) / len(known)
    assert _text(page, "mean-predicted") == _percent(mean, lang)
    assert _text(page, "base-rate") == _percent(sum(r["label"] for r in known) / len(known), lang)
    calibration = []
    for i, band in enumerate(PROBABILITY_BANDS):
        group = [r for r in known if _in_band(r["ml_probability"], PROBABILITY_BANDS, i)]
        n_, k_, rate, interval = _rate_cells(group, lang)
        predicted = sum(r["ml_probability"] for r in group) / len(group) if group else None
        calibration.append(
            [_band_name(band, percent=True), n_, _percent(predicted, lang), k_, rate, interval]
        )
    assert page.tables["calibration"] == calibration

    # Supported against not supported, per score band, over both kinds of decision.
    decided = [r for r in ROWS if r["label"] is not None]
    comparison = []
    for i, band in enumerate(SCORE_BANDS):
        group = [r for r in decided if _in_band(r["score"], SCORE_BANDS, i)]
        yes = [r for r in group if r["decision"] == "support"]
        no = [r for r in group if r["decision"] == "no_support"]
        cells = [_band_name(band)]
        for members in (yes, no):
            k = sum(r["label"] for r in members)
            rate = _percent(k / len(members) if members else None, lang)
            cells.append(f"{rate} ({k}/{len(members)})")
        if yes and no:
            k1, n1, k2, n2 = (
                sum(r["label"] for r in yes),
                len(yes),
                sum(r["label"] for r in no),
                len(no),
            )
            p1, p2 = k1 / n1, k2 / n2
            (l1, u1), (l2, u2) = _wilson(k1, n1), _wilson(k2, n2)
            low = p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
            high = p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
            cells += [
                _points(p1 - p2, lang),
                _interval(_points(low, lang), _points(high, lang), lang),
            ]
        else:
            cells += ["–", "–"]
        comparison.append(cells)
    assert page.tables["supported-vs-not"] == comparison
    note = {
        "en": "An association, not the effect of support",
        "id": "Sebuah keterkaitan, bukan dampak dukungan",
    }[lang]
    assert _text(page, "association-note").startswith(note)


def test_the_charts_have_text_alternatives_and_whiskers(crafted_app, login):
    html = page_text(_get(login("officer"), "en"))
    for chart in ("chart-by-tier", "chart-by-score-band", "chart-reliability"):
        svg = re.search(rf'<svg[^>]*id="{chart}".*?</svg>', html, re.DOTALL).group(0)
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in svg
        assert f'<title id="{chart}-title">' in svg and f'<desc id="{chart}-desc">' in svg
        assert 'class="whisker"' in svg or "whisker" in svg
    figures = re.findall(r"<figure.*?</figure>", html, re.DOTALL)
    assert len(figures) == 3 and all("<figcaption>" in f for f in figures)
    reliability = re.search(r'<svg[^>]*id="chart-reliability".*?</svg>', html, re.DOTALL).group(0)
    assert 'class="axis diagonal"' in reliability
    known = [r for r in ROWS if r["decision"] == "support" and r["label"] is not None]
    sizes = [
        sum(_in_band(r["ml_probability"], PROBABILITY_BANDS, i) for r in known)
        for i in range(len(PROBABILITY_BANDS))
    ]
    points = re.findall(r"<circle[^>]*><title>", reliability)
    assert len(points) == sum(1 for n in sizes if n)
    for n in sizes:
        if n:
            assert f">n = {n}</text>" in reliability
    bars = re.search(r'<svg[^>]*id="chart-by-tier".*?</svg>', html, re.DOTALL).group(0)
    tiers_with_outcomes = {r["tier"] for r in known}
    assert bars.count('<rect x="') == len(tiers_with_outcomes)


# --- training a candidate from the outcomes -------------------------------------------------


def _models(app) -> tuple[set[str], str]:
    """The registered versions and the active one."""
    folder = Path(app.config["MODELS_DIR"])
    names = {p.name for p in folder.iterdir() if (p / "manifest.json").is_file()}
    return names, (folder / "ACTIVE").read_text().strip()


def test_only_admins_may_train_and_see_the_button(web_app, login):
    for role in ("officer", "lead"):
        client = login(role)
        assert client.get("/outcomes/train").status_code == 403
        token = csrf_token(client, "/outcomes/evaluation")
        assert client.post("/outcomes/train", data={"csrf_token": token}).status_code == 403
        assert 'id="train-form"' not in page_text(client.get("/outcomes/evaluation"))
    admin = login("admin")
    assert 'id="train-form"' in page_text(admin.get("/outcomes/evaluation"))
    assert 'id="train-form"' in page_text(admin.get("/outcomes/train"))
    models = page_text(admin.get("/models"))  # beside promotion and rollback
    assert 'id="train-form"' in models and 'action="/outcomes/train"' in models
    assert admin.post("/outcomes/train").status_code == 400  # no CSRF token
    assert web_app.test_client().post("/outcomes/train").status_code in (302, 400)


def test_training_is_refused_in_words_when_too_few_outcomes_are_labelled(web_app, login):
    rows = ROWS[:8]
    frame = synth.generate_profiles(len(rows), seed=3)
    _store_smes(web_app, frame, "kecil")
    _record(web_app, rows, frame)
    before = _models(web_app)
    admin = login("admin")
    known = [r["label"] for r in rows if r["label"] is not None]
    for lang, words in (
        ("id", "Hasil berlabel terlalu sedikit untuk melatih model"),
        ("en", "Too few labelled outcomes to train a model"),
    ):
        admin.post("/language", data={"lang": lang, "csrf_token": csrf_token(admin, "/")})
        token = csrf_token(admin, "/outcomes/train")
        refused = admin.post("/outcomes/train", data={"csrf_token": token})
        assert refused.status_code == 409
        message = _text(_read(refused), "train-error")
        assert message.startswith(words)
        assert f"{len(known)} " in message and f" {sum(known)} " in message
        assert "train-done" not in _read(refused).texts
    assert _models(web_app) == before
    with web_app.app_context():
        assert not [e for e in store.audit_events(get_session()) if e["action"] == "model.train"]


def test_an_admin_trains_a_candidate_on_a_generated_cohort(web_app, login):
    frame = synth.generate_profiles(44, seed=4)
    labels = [int(v) for v in frame[LABEL]]
    assert min(sum(labels), len(labels) - sum(labels)) >= 10
    _store_smes(web_app, frame, "bdg-2024")
    # Every SME supported; the first four still without a known outcome.
    rows = [
        {
            "decision": "support",
            "support_kind": "export_coaching",
            "decided_on": EARLY if i % 2 else LATE,
            "label": None if i < 4 else label,
        }
        for i, label in enumerate(labels)
    ]
    ids = list(frame["sme_id"])
    with web_app.app_context():
        session = get_session()
        store.record_decisions(
            session,
            [
                {
                    "sme_id": sme_id,
                    **{k: row[k] for k in ("decision", "support_kind", "decided_on")},
                }
                for row, sme_id in zip(rows, ids, strict=True)
            ],
            actor="test",
        )
        store.record_followups(
            session, [_followup(r, s) for r, s in zip(rows, ids, strict=True)], actor="test"
        )
        session.commit()
    before, active = _models(web_app)
    admin = login("admin")
    admin.post("/language", data={"lang": "en", "csrf_token": csrf_token(admin, "/")})
    response = admin.post(
        "/outcomes/train", data={"csrf_token": csrf_token(admin, "/outcomes/evaluation")}
    )
    assert response.status_code == 200, page_text(response)[:2000]
    page = _read(response)
    after, still_active = _models(web_app)
    (version,) = after - before
    assert still_active == active  # registered, not promoted
    assert _text(page, "candidate-version") == version
    assert _text(page, "train-done") == f"Candidate {version} is registered; it is not active."
    known = labels[4:]
    assert _text(page, "train-real-outcomes") == str(len(known))
    assert _text(page, "train-positives") == str(sum(known))
    assert _text(page, "train-censored") == "4"
    assert _text(page, "train-period") == f"{EARLY.isoformat()} to {LATE.isoformat()}"
    assert _text(page, "stored-censored") == "4"
    comparison = page.tables["train-comparison"]
    assert [row[0] for row in comparison] == ["ROC AUC", "Brier score"]
    html = page_text(response)
    assert f"Active {active}" in html and 'href="/models"' in html
    assert "train-guard" in page.texts and "train-warnings" in page.texts  # 40 rows are few
    manifest = json.loads(
        (Path(web_app.config["MODELS_DIR"]) / version / "manifest.json").read_text()
    )
    assert manifest["training_data"]["real_outcomes"] == len(known)
    assert manifest["training_data"]["synthetic_rows"] == 0
    with web_app.app_context():
        (event,) = [e for e in store.audit_events(get_session()) if e["action"] == "model.train"]
    assert event["actor"] == "user:admin" and event["subject"] == version
    # The models page lists the candidate with its promote button: promotion stays there.
    models = page_text(admin.get("/models"))
    assert f'name="version" value="{version}"' in models
    # In Bahasa Indonesia, the same result with a decimal comma.
    admin.post("/language", data={"lang": "id", "csrf_token": csrf_token(admin, "/")})
    again = admin.post("/outcomes/train", data={"csrf_token": csrf_token(admin, "/outcomes/train")})
    assert again.status_code == 200
    text = _read(again)
    assert _text(text, "train-period") == f"{EARLY.isoformat()} s.d. {LATE.isoformat()}"
    cell = text.tables["train-comparison"][0][1]
    assert re.fullmatch(r"\d,\d{3}", cell), cell
