"""``sme-export invitations create|list|revoke``: links through which an SME fills its own
profile (its self-assessment), reviewed by an officer on the staff pages.

A link's token is printed once, when the invitation is made; only its hash is stored.
"""

from __future__ import annotations

import click

from api.cli.common import database_url_option, echo_json, echo_table, fail, session, when
from api.store.invitations import DEFAULTS, LANGUAGES, MAX_EXPIRY_DAYS, MAX_USES, STATES

#: Where the link's token goes in the service's address.
LINK_PATH = "/self/"


@click.group()
def invitations() -> None:
    """Self-assessment invitations (a link's token is shown only when it is made)."""


@invitations.command("create")
@click.option("--cohort", help="The cohort the SME joins when its answers are accepted.")
@click.option(
    "--sme",
    "held_sme",
    metavar="SME_ID",
    help="Invite this SME already held (its form opens with its latest profile).",
)
@click.option(
    "--sme-id",
    "new_sme_id",
    metavar="SME_ID",
    help="The office's id for a new SME of --cohort [default: generated, SA-XXXXXXXX].",
)
@click.option("--language", type=click.Choice(LANGUAGES), default="id", show_default=True)
@click.option(
    "--show-result/--no-show-result",
    default=False,
    show_default=True,
    help="Whether the SME sees its estimated score and action plan after sending.",
)
@click.option("--max-uses", type=click.IntRange(1, MAX_USES), default=1, show_default=True)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, MAX_EXPIRY_DAYS),
    default=DEFAULTS["SELF_ASSESSMENT_EXPIRY_DAYS"],
    show_default=True,
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=DEFAULTS["SELF_ASSESSMENT_RETENTION_DAYS"],
    show_default=True,
    help="Delete its drafts and returned answers this many days after the link closes.",
)
@click.option(
    "--base-url",
    envvar="SME_EXPORT_BASE_URL",
    metavar="URL",
    help="The service's address, to print the whole link [env SME_EXPORT_BASE_URL].",
)
@database_url_option
def invitations_create(
    cohort: str | None,
    held_sme: str | None,
    new_sme_id: str | None,
    language: str,
    show_result: bool,
    max_uses: int,
    expires_in_days: int,
    retention_days: int,
    base_url: str | None,
    database_url: str | None,
) -> None:
    """Invite a new SME of --cohort, or the SME --sme, to fill its own profile; print the
    link once."""
    from api.services import self_assessment

    if held_sme and new_sme_id:
        fail("give --sme (an SME already held) or --sme-id (a new SME), not both")
    if not held_sme and not cohort:
        fail("give --cohort (a new SME) or --sme (an SME already held)")
    try:
        with session(database_url) as db_session:
            info, token = self_assessment.make_invitation(
                db_session,
                kind="sme" if held_sme else "cohort",
                sme_id=held_sme or new_sme_id,
                cohort=cohort,
                language=language,
                show_result=show_result,
                max_uses=max_uses,
                expires_in_days=expires_in_days,
                actor="cli",
                with_personal=True,
                retention_days=retention_days,
            )
    except self_assessment.InvitationError as exc:
        fail(str(exc))
    click.echo(f"{(base_url or '').rstrip('/')}{LINK_PATH}{token}")
    click.echo(
        f"invitation {info.id} for {info.sme_id}, valid until {when(info.expires_at)} UTC: "
        "copy the link now; it is not stored and cannot be shown again."
        + ("" if base_url else " Put the service's address in front of it."),
        err=True,
    )


@invitations.command("list")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only these.")
@click.option("--cohort", default=None, help="Only this cohort's.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_url_option
def invitations_list(
    state: str | None, cohort: str | None, limit: int, as_json: bool, database_url: str | None
) -> None:
    """List invitations, newest first (never their tokens)."""
    from api.store import invitations as invitation_store

    with session(database_url) as db_session:
        infos, _ = invitation_store.list_invitations(
            db_session, state=state, cohort=cohort, per_page=limit
        )
    if as_json:
        echo_json([{**invitation_store.as_dict(i), "state": i.state()} for i in infos])
        return
    header = ("ID", "KIND", "SME_ID", "COHORT", "STATE", "USES", "EXPIRES (UTC)", "CREATED BY")
    rows = [
        (
            str(i.id),
            i.kind,
            i.sme_id,
            i.cohort or "-",
            i.state(),
            f"{i.uses}/{i.max_uses}",
            when(i.expires_at),
            i.created_by,
        )
        for i in infos
    ]
    echo_table(header, rows)


@invitations.command("revoke")
@click.argument("invitation_id", type=click.IntRange(min=1))
@database_url_option
def invitations_revoke(invitation_id: int, database_url: str | None) -> None:
    """Revoke invitation INVITATION_ID: its link stops working at once."""
    from api.services import self_assessment

    with session(database_url) as db_session:
        info = self_assessment.revoke_invitation(
            db_session,
            invitation_id,
            actor="cli",
            retention_days=DEFAULTS["SELF_ASSESSMENT_RETENTION_DAYS"],
        )
    if info is None:
        fail(f"no invitation {invitation_id}")
    click.echo(f"revoked {invitation_id}")
