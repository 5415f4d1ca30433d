"""SMEs: their latest profiles, personal data and cohorts, as listed and shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.store.common import built_upsert, chunks, format_time
from api.store.direct import execute
from api.tables import CohortMember, PersonalData, Score, Sme
from scoring.contract import fields as F

_SUMMARY_COLUMNS = (
    "score",
    "tier",
    "rules_score",
    "ml_probability",
    "model_version",
    "ruleset_version",
    "scored_at",
)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas.NA and NaT are not equal to themselves
    except (TypeError, ValueError):
        return True


def personal_row(sme_id: str, profile: dict, person: dict) -> dict:
    """The personal fields to write for one SME: those given in ``person``, else in
    ``profile``; one that ``person`` holds as None (and ``profile`` does not give) is
    cleared. Fields in neither are left out: the stored value is kept (a profile sent
    without personal fields never erases them)."""
    row: dict[str, Any] = {"sme_id": sme_id}
    for name in F.PERSONAL_COLUMNS:
        for value in (person.get(name), profile.get(name)):
            if not _missing(value):
                row[name] = str(value)
                break
        else:
            if name in person:
                row[name] = None
    return row


def _upsert_personal(session: Session, rows: Iterable[dict]) -> None:
    """Insert or update personal rows, each changing only the fields it holds; one
    statement per set of fields (a row without any only makes sure the SME has one)."""
    by_fields: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        fields = tuple(name for name in F.PERSONAL_COLUMNS if name in row)
        by_fields.setdefault(fields, []).append(row)
    connection = session.connection()  # Core statements: the ORM adds only its cost
    for fields, group in by_fields.items():
        statement = built_upsert(session, PersonalData.__table__, fields, _personal_upsert(fields))
        execute(connection, statement, group)


def _personal_upsert(fields: tuple[str, ...]):
    def build(insert):
        if not fields:
            return insert.on_conflict_do_nothing(index_elements=["sme_id"])
        return insert.on_conflict_do_update(
            index_elements=["sme_id"], set_={c: insert.excluded[c] for c in fields}
        )

    return build


def _sme_upsert(insert):
    return insert.on_conflict_do_update(
        index_elements=["sme_id"],
        set_={c: insert.excluded[c] for c in ("name", "sector", "profile", "updated_at")},
    )


def sme_row(profile: dict, now: dt.datetime) -> dict:
    """The SME's row: name, sector and latest profile (contract fields, no personal ones)."""
    return {
        "sme_id": profile["sme_id"],
        "name": profile["name"],
        "sector": profile["sector"],
        "profile": {name: profile.get(name) for name in F.PROFILE_COLUMNS},
        "created_at": now,
        "updated_at": now,
    }


def save_profiles(
    session: Session, *, smes: Sequence[dict], personal: Iterable[dict], cohort: str | None
) -> None:
    """Upsert SME rows (``sme_row``: the latest profile wins), their personal rows
    (``personal_row``) and, with ``cohort``, their membership of it."""
    connection = session.connection()  # Core statements: the ORM adds only its cost
    execute(connection, built_upsert(session, Sme.__table__, "profile", _sme_upsert), list(smes))
    _upsert_personal(session, personal)
    if cohort is not None:
        execute(
            connection,
            built_upsert(session, CohortMember.__table__, "member", _member_upsert),
            [{"cohort": cohort, "sme_id": row["sme_id"]} for row in smes],
        )


def _member_upsert(insert):
    return insert.on_conflict_do_nothing()


def cohorts_of(session: Session, sme_ids: Sequence[str]) -> dict[str, list[str]]:
    """The cohorts of each of ``sme_ids``, by name; an empty list for an SME in none."""
    cohorts: dict[str, list[str]] = {sme_id: [] for sme_id in sme_ids}
    for chunk in chunks(sme_ids):
        rows = session.execute(
            select(CohortMember.sme_id, CohortMember.cohort)
            .where(CohortMember.sme_id.in_(chunk))
            .order_by(CohortMember.cohort)
        )
        for sme_id, cohort in rows:
            cohorts[sme_id].append(cohort)
    return cohorts


def get_sme(session: Session, sme_id: str, *, personal: bool = True) -> dict | None:
    """The SME's latest profile (with its personal fields unless ``personal`` is false),
    cohorts and latest score record."""
    profile = session.scalar(select(Sme.profile).where(Sme.sme_id == sme_id))
    if profile is None:
        return None
    merged = dict(profile)
    if personal:
        person = session.get(PersonalData, sme_id)
        for name in F.PERSONAL_COLUMNS:
            merged[name] = getattr(person, name) if person is not None else None
    latest = session.scalar(
        select(Score.record).where(Score.sme_id == sme_id).order_by(Score.id.desc()).limit(1)
    )
    columns = F.ALL_COLUMNS if personal else F.PROFILE_COLUMNS
    return {
        "sme_id": sme_id,
        "profile": {name: merged.get(name) for name in columns},
        "cohorts": cohorts_of(session, [sme_id])[sme_id],
        "latest_score": latest,
    }


def list_smes(
    session: Session,
    *,
    sector: str | None = None,
    tier: str | None = None,
    cohort: str | None = None,
    page: int = 1,
    per_page: int = 50,
    updated_since: dt.datetime | None = None,
    after: str | None = None,
    count: bool = True,
) -> tuple[list[dict], int | None]:
    """One page of SMEs ordered by sme_id, and the total matching the filters (None
    without ``count``).

    ``tier`` filters on the latest score, ``updated_since`` on the last change of the
    SME's row (a new profile, score or cohort). With ``after`` (an sme_id) the page starts
    after it, not at an offset (keyset paging). Items: sme_id, name, sector, cohorts and a
    ``latest_score`` summary (score, tier, rules_score, ml_probability, versions,
    scored_at) or None.
    """
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    # Each listed SME's latest score by one seek in the index on (sme_id, id): a page
    # costs the same however many scores are stored (grouping every score by SME first
    # made it grow with them).
    summary = [getattr(Score, name) for name in _SUMMARY_COLUMNS]
    conditions = []
    if sector is not None:
        conditions.append(Sme.sector == sector)
    if cohort is not None:
        members = select(CohortMember.sme_id).where(CohortMember.cohort == cohort)
        conditions.append(Sme.sme_id.in_(members))
    if updated_since is not None:
        conditions.append(Sme.updated_at >= updated_since)
    query = (
        select(Sme.sme_id, Sme.name, Sme.sector, Score.id, *summary)
        .select_from(Sme)
        .outerjoin(Score, Score.id == _LATEST_SCORE_ID)
        .where(*conditions)
    )
    if tier is not None:
        query = query.where(Score.tier == tier)
    total = None
    if count:
        # without a tier, the SMEs are counted without their scores
        counted = query if tier is not None else select(Sme.sme_id).where(*conditions)
        total = session.scalar(select(func.count()).select_from(counted.subquery()))
    if after is not None:
        query = query.where(Sme.sme_id > after)
    rows = session.execute(
        query.order_by(Sme.sme_id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    cohorts = cohorts_of(session, [row.sme_id for row in rows])
    items = []
    for row in rows:
        latest_score = None
        if row.id is not None:
            latest_score = {name: getattr(row, name) for name in _SUMMARY_COLUMNS}
            latest_score["scored_at"] = format_time(row.scored_at)
        items.append(
            {
                "sme_id": row.sme_id,
                "name": row.name,
                "sector": row.sector,
                "cohorts": cohorts[row.sme_id],
                "latest_score": latest_score,
            }
        )
    return items, total


#: The id of the SME's latest score (correlated with the SME of the outer query).
_LATEST_SCORE_ID = (
    select(Score.id)
    .where(Score.sme_id == Sme.sme_id)
    .order_by(Score.id.desc())
    .limit(1)
    .correlate(Sme)
    .scalar_subquery()
)


def cohort_members(session: Session, cohort: str) -> list[str]:
    """The sme_ids in ``cohort``, sorted."""
    return list(
        session.scalars(
            select(CohortMember.sme_id)
            .where(CohortMember.cohort == cohort)
            .order_by(CohortMember.sme_id)
        )
    )


def _latest_two_scores(session: Session, sme_ids: Select):
    """Each SME's latest (n=1) and previous (n=2) score rows, for the SMEs ``sme_ids``
    selects; one query with a window function (SQLite >= 3.25 and PostgreSQL)."""
    ranked = (
        select(
            Score.sme_id,
            Score.score,
            Score.tier,
            Score.scored_at,
            func.row_number().over(partition_by=Score.sme_id, order_by=Score.id.desc()).label("n"),
        )
        .where(Score.sme_id.in_(sme_ids))
        .subquery()
    )
    return session.execute(
        select(ranked.c.sme_id, ranked.c.n, ranked.c.score, ranked.c.tier, ranked.c.scored_at)
        .where(ranked.c.n <= 2)
        .order_by(ranked.c.sme_id, ranked.c.n)
    )


def cohort_names(session: Session) -> list[tuple[str, int]]:
    """Every cohort with its number of SMEs, by name.

    Names are sorted here, by code point, not by the database: PostgreSQL orders text by
    its collation (``C2`` after ``c1`` in en_US), SQLite by code point, and the first
    cohort is the one the pages open by default.
    """
    rows = session.execute(select(CohortMember.cohort, func.count()).group_by(CohortMember.cohort))
    return sorted((cohort, count) for cohort, count in rows)


def cohort_rows(session: Session, cohort: str) -> list[dict]:
    """The SMEs of a cohort (no personal fields), by sme_id in code point order: name,
    sector, target markets, latest score and tier, and the previous score and tier with
    the change (None for an SME scored once)."""
    members = select(CohortMember.sme_id).where(CohortMember.cohort == cohort)
    smes = sorted(
        session.execute(
            select(Sme.sme_id, Sme.name, Sme.sector, Sme.profile).where(Sme.sme_id.in_(members))
        ),
        key=lambda row: row.sme_id,
    )
    scores: dict[str, dict[int, Any]] = {}
    for row in _latest_two_scores(session, members):
        scores.setdefault(row.sme_id, {})[row.n] = row
    out = []
    for sme_id, name, sector, profile in smes:
        latest = scores.get(sme_id, {}).get(1)
        previous = scores.get(sme_id, {}).get(2)
        out.append(
            {
                "sme_id": sme_id,
                "name": name,
                "sector": sector,
                "target_markets": list(profile.get("target_markets") or []),
                "score": latest.score if latest else None,
                "tier": latest.tier if latest else None,
                "scored_at": format_time(latest.scored_at) if latest else None,
                "previous_score": previous.score if previous else None,
                "previous_tier": previous.tier if previous else None,
                "change": round(latest.score - previous.score, 1) if previous else None,
            }
        )
    return out


def cohort_profiles(session: Session, cohort: str) -> list[dict]:
    """The latest stored profile (contract fields, no personal data) of each SME in
    ``cohort``, by sme_id."""
    rows = session.scalars(
        select(Sme.profile)
        .join(CohortMember, CohortMember.sme_id == Sme.sme_id)
        .where(CohortMember.cohort == cohort)
        .order_by(Sme.sme_id)
    )
    return list(rows)


def recent_profiles(session: Session, *, since: dt.datetime, limit: int = 100_000) -> list[dict]:
    """The latest stored profile of each SME scored since ``since`` (most recent first)."""
    recent = (
        select(Score.sme_id, func.max(Score.id).label("last"))
        .where(Score.scored_at >= since)
        .group_by(Score.sme_id)
        .subquery()
    )
    rows = session.scalars(
        select(Sme.profile)
        .join(recent, recent.c.sme_id == Sme.sme_id)
        .order_by(recent.c.last.desc())
        .limit(limit)
    )
    return list(rows)
