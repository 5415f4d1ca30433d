"""Scores: each scoring stored, an SME's history and latest, and the anonymous aggregates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import ARRAY, Select, String, bindparam, func, or_, select
from sqlalchemy.orm import Session

from api.store.audit_log import audit
from api.store.common import chunks, format_time, parse_time, upsert
from api.store.direct import direct
from api.store.events import emit_many
from api.store.smes import personal_row, save_profiles, sme_row
from api.tables import Batch, CohortMember, PersonalData, Score, ScoreAggregate, Sme, utcnow
from scoring.contract import fields as F


def save_scored(
    session: Session,
    *,
    profiles: Sequence[dict],
    personal: Sequence[dict],
    records: Sequence[dict],
    cohort: str | None,
    batch_id: int | None,
    actor: str,
) -> None:
    """Store scored profiles: upsert each SME (latest profile), its personal row and cohort
    membership, insert one score row per record, and audit it; each score emits
    ``score.created`` (and ``tier.changed`` when its tier is not the SME's previous one).

    ``profiles``, ``personal`` and ``records`` are aligned lists (one SME per position);
    personal fields found in ``profiles`` are moved to the personal table. A personal
    field absent from both keeps its stored value; one given as None is cleared. Whether
    the caller may write personal fields at all is the caller's check.
    """
    if not len(profiles) == len(personal) == len(records):
        raise ValueError("profiles, personal and records must have the same length")
    if not records:
        return
    if batch_id is not None:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise LookupError(f"no batch {batch_id}")
        if batch.status != "running":
            raise ValueError(f"batch {batch_id} is {batch.status}, not running")
    session.flush()
    now = utcnow()
    smes: dict[str, dict] = {}
    people: dict[str, dict] = {}
    scores: list[dict] = []
    for profile, person, record in zip(profiles, personal, records, strict=True):
        sme_id = profile["sme_id"]
        if record["sme_id"] != sme_id:
            raise ValueError(f"record of {record['sme_id']!r} stands beside profile of {sme_id!r}")
        smes[sme_id] = sme_row(profile, now)
        people.setdefault(sme_id, {}).update(personal_row(sme_id, profile, person))
        scores.append(_score_row(record, sector=profile["sector"], batch_id=batch_id))
    previous_tiers = _latest_tiers(session, smes)
    save_profiles(session, smes=list(smes.values()), personal=people.values(), cohort=cohort)
    # Core statements on the session's connection: no ORM rows are made of them (one
    # score's straight on the driver's cursor).
    connection = session.connection()
    if len(scores) == 1:
        score_ids = [row.id for row in direct(_INSERT_SCORES).rows(connection, scores[0])]
    else:
        score_ids = connection.execute(_INSERT_SCORES, scores).scalars().all()
    emit_many(session, _score_events(scores, score_ids, previous_tiers))
    subject = f"batch/{batch_id}" if batch_id is not None else None
    if subject is None and len(smes) == 1:
        subject = next(iter(smes))
    audit(
        session,
        actor=actor,
        action="score",
        subject=subject,
        details={"count": len(scores), "cohort": cohort, "batch_id": batch_id},
    )


def _latest_tiers(session: Session, sme_ids: Iterable[str]) -> dict[str, str]:
    """Each SME's tier in its latest stored score, by sme_id (unscored SMEs left out).

    Only each SME's latest score row is read (its highest id, from the index on
    ``(sme_id, id)``), however long its history. On PostgreSQL the ids are an unnested
    array, not an IN list: before its statistics know that ``scores`` has grown (a first
    large batch), the planner compares every row with every listed id, 40 times slower
    for 20,000 SMEs than through the index.
    """
    connection = session.connection()
    wanted = list(sme_ids)
    if len(wanted) == 1:  # one score through the API: a plain statement, nothing expanded
        rows = direct(_LATEST_TIER).rows(connection, {"sme_id": wanted[0]})
        return {wanted[0]: rows[0].tier} if rows else {}
    postgresql = connection.dialect.name == "postgresql"
    query = _LATEST_TIERS_POSTGRESQL if postgresql else _LATEST_TIERS
    tiers: dict[str, str] = {}
    for chunk in chunks(wanted):
        rows = connection.execute(query, {"sme_ids": list(chunk)})
        tiers.update((sme_id, tier) for sme_id, tier in rows if tier is not None)
    return tiers


def _latest_tiers_query(wanted) -> Select:
    # Per SME, its last score through the index on (sme_id, id): one seek, however long
    # its history (a max() grouped by SME reads every score of the SME).
    latest = (
        select(Score.tier)
        .where(Score.sme_id == Sme.sme_id)
        .order_by(Score.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(Sme.sme_id, latest).where(Sme.sme_id.in_(wanted))


# Built once: a statement built for every stored score costs more than running it.
_LATEST_TIERS = _latest_tiers_query(bindparam("sme_ids", expanding=True))
_LATEST_TIERS_POSTGRESQL = _latest_tiers_query(
    select(func.unnest(bindparam("sme_ids", type_=ARRAY(String))))
)
_LATEST_TIER = (
    select(Score.tier).where(Score.sme_id == bindparam("sme_id")).order_by(Score.id.desc()).limit(1)
)
_INSERT_SCORES = Score.__table__.insert().returning(Score.id, sort_by_parameter_order=True)


def _score_events(
    scores: Sequence[dict], score_ids: Sequence[int], previous_tiers: dict[str, str]
) -> Iterator[tuple[str, dict]]:
    """``score.created`` of each stored score, and ``tier.changed`` where an SME's tier is
    not its previous score's (the one before it in the same batch, if it is there twice)."""
    for row, score_id in zip(scores, score_ids, strict=True):
        sme_id, tier = row["sme_id"], row["tier"]
        yield (
            "score.created",
            {
                "sme_id": sme_id,
                "score_id": score_id,
                "score": row["score"],
                "tier": tier,
                "rules_score": row["rules_score"],
                "ml_probability": row["ml_probability"],
                "model_version": row["model_version"],
                "ruleset_version": row["ruleset_version"],
                "scored_at": row["record"]["scored_at"],
                "batch_id": row["batch_id"],
            },
        )
        previous = previous_tiers.get(sme_id)
        if previous is not None and previous != tier:
            yield (
                "tier.changed",
                {
                    "sme_id": sme_id,
                    "score_id": score_id,
                    "previous_tier": previous,
                    "tier": tier,
                    "score": row["score"],
                    "batch_id": row["batch_id"],
                },
            )
        previous_tiers[sme_id] = tier


def _score_row(record: dict, *, sector: str, batch_id: int | None) -> dict:
    """The ``scores`` row of a score record: its summary columns and the whole record."""
    return {
        "sme_id": record["sme_id"],
        "batch_id": batch_id,
        "sector": sector,
        "score": record["score"],
        "tier": record["tier"],
        "rules_score": record["rules_score"],
        "ml_probability": record["ml_probability"],
        "model_version": record["model_version"],
        "ruleset_version": record["ruleset_version"],
        "scored_at": parse_time(record["scored_at"]),
        "record": dict(record),
        "category_scores": record.get("category_scores"),
    }


def score_history(session: Session, sme_id: str) -> list[dict] | None:
    """The SME's score records, oldest first; None if the SME is unknown."""
    if session.scalar(select(Sme.id).where(Sme.sme_id == sme_id)) is None:
        return None
    return list(
        session.scalars(select(Score.record).where(Score.sme_id == sme_id).order_by(Score.id))
    )


def score_history_page(
    session: Session,
    sme_id: str,
    *,
    limit: int,
    after: int | None = None,
    scored_since: dt.datetime | None = None,
) -> list[tuple[int, dict]] | None:
    """Up to ``limit`` of the SME's scores, oldest first, as ``(score id, record)``: those
    stored after the score ``after`` (keyset paging) and scored at or after
    ``scored_since``. None if the SME is unknown."""
    if session.scalar(select(Sme.id).where(Sme.sme_id == sme_id)) is None:
        return None
    query = select(Score.id, Score.record).where(Score.sme_id == sme_id)
    if after is not None:
        query = query.where(Score.id > after)
    if scored_since is not None:
        query = query.where(Score.scored_at >= scored_since)
    return [(row.id, row.record) for row in session.execute(query.order_by(Score.id).limit(limit))]


def latest_rows(
    session: Session, sme_ids: Iterable[str], before_batch: int | None, *columns
) -> Iterator[Any]:
    """``columns`` of each SME's latest score row, optionally stored before ``before_batch``."""
    cutoff = None
    if before_batch is not None:
        cutoff = session.scalar(select(func.min(Score.id)).where(Score.batch_id == before_batch))
    for chunk in chunks(list(dict.fromkeys(sme_ids))):
        latest: Select = select(func.max(Score.id)).where(Score.sme_id.in_(chunk))
        if before_batch is not None:
            latest = latest.where(or_(Score.batch_id.is_(None), Score.batch_id != before_batch))
            if cutoff is not None:
                latest = latest.where(Score.id < cutoff)
        latest = latest.group_by(Score.sme_id)
        yield from session.execute(select(Score.sme_id, *columns).where(Score.id.in_(latest)))


def latest_scores(
    session: Session, sme_ids: Iterable[str], *, before_batch: int | None = None
) -> dict[str, dict]:
    """Each SME's most recent score record, by sme_id; SMEs without one are left out.

    With ``before_batch``, only scores stored before that batch's scores count (for the
    change since the previous score).
    """
    rows = latest_rows(session, sme_ids, before_batch, Score.record)
    return {sme_id: record for sme_id, record in rows}


def fold_into_aggregates(session: Session, sme_id: str) -> None:
    """Add the SME's scores to ``score_aggregates`` (count and score sum per group)."""
    totals: dict[tuple, list] = {}
    rows = session.execute(
        select(
            Score.scored_at,
            Score.sector,
            Score.tier,
            Score.model_version,
            Score.ruleset_version,
            Score.score,
        ).where(Score.sme_id == sme_id)
    )
    for scored_at, sector, tier, model_version, ruleset_version, score in rows:
        key = (scored_at.date(), sector, tier, model_version, ruleset_version)
        total = totals.setdefault(key, [0, 0.0])
        total[0] += 1
        total[1] += score
    table = ScoreAggregate.__table__
    for (day, sector, tier, model_version, ruleset_version), (count, score_sum) in totals.items():
        insert = upsert(session, table).values(
            day=day,
            sector=sector,
            tier=tier,
            model_version=model_version,
            ruleset_version=ruleset_version,
            count=count,
            score_sum=score_sum,
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key],
                set_={
                    "count": table.c.count + insert.excluded.count,
                    "score_sum": table.c.score_sum + insert.excluded.score_sum,
                },
            )
        )


def sector_category_averages(session: Session, sector: str) -> tuple[dict[str, float], int]:
    """The mean category scores of the latest scores of every SME in ``sector`` (categories
    that apply to none of them are left out), and how many SMEs they rest on.

    Each SME's latest score in the sector is found in the index on ``(sector, sme_id,
    id)``, and only its ``category_scores`` column is read, streamed: time and memory stay
    small however many SMEs and scores the sector has.
    """
    sums: dict[str, list[float]] = {}
    count = 0
    # In a fixed order: a float sum depends on the order of its terms.
    for scores in session.scalars(_SECTOR_CATEGORIES, {"sector": sector}):
        count += 1
        for category, value in (scores or {}).items():
            if value is not None:
                total = sums.setdefault(category, [0.0, 0])
                total[0] += value
                total[1] += 1
    averages = {category: round(total / n, 1) for category, (total, n) in sums.items()}
    return averages, count


_SECTOR_CATEGORIES = (
    select(Score.category_scores)
    .where(
        Score.id.in_(
            select(func.max(Score.id))
            .where(Score.sector == bindparam("sector"))
            .group_by(Score.sme_id)
        )
    )
    .order_by(Score.id)
    .execution_options(yield_per=2_000)
)


#: The columns of ``iter_latest_scores``, in order; personal ones only when asked for.
LATEST_SCORE_COLUMNS = (
    "sme_id",
    "name",
    "sector",
    "score",
    "tier",
    "rules_score",
    "ml_probability",
    "knockouts",
    "model_version",
    "ruleset_version",
    "scored_at",
)


def iter_latest_scores(
    session: Session, *, cohort: str, personal: bool = False, chunk_size: int = 500
) -> Iterator[dict]:
    """The latest score of each SME in ``cohort``, by sme_id, one flat row at a time
    (``LATEST_SCORE_COLUMNS``, then the personal fields with ``personal``), read
    ``chunk_size`` rows at a time (a server-side cursor on PostgreSQL)."""
    members = select(CohortMember.sme_id).where(CohortMember.cohort == cohort)
    latest = select(func.max(Score.id)).where(Score.sme_id.in_(members)).group_by(Score.sme_id)
    columns = [
        Sme.sme_id,
        Sme.name,
        Sme.sector,
        Score.score,
        Score.tier,
        Score.rules_score,
        Score.ml_probability,
        Score.record["knockouts"].label("knockouts"),
        Score.model_version,
        Score.ruleset_version,
        Score.scored_at,
    ]
    query = select(*columns).join(Score, Score.sme_id == Sme.sme_id).where(Score.id.in_(latest))
    if personal:
        query = query.add_columns(
            *(getattr(PersonalData, name) for name in F.PERSONAL_COLUMNS)
        ).outerjoin(PersonalData, PersonalData.sme_id == Sme.sme_id)
    query = query.order_by(Sme.sme_id).execution_options(yield_per=chunk_size)
    # Through the Core connection: the ORM's result buffers every row even with yield_per.
    for row in session.connection().execute(query).mappings():
        out = dict(row)
        out["knockouts"] = list(out["knockouts"] or [])
        out["scored_at"] = format_time(out["scored_at"])
        yield out
