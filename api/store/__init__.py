"""Repository functions: the only place that runs queries. The caller commits.

Every function takes a SQLAlchemy ``Session``. Score records are the SPEC section 4
dicts. Timestamps in the dicts returned are ISO 8601 strings in UTC ("...Z", like a
record's ``scored_at``); ``ApiKeyInfo`` holds aware UTC datetimes. "Latest" and
"oldest first" follow the order in which scores were stored. Personal fields live only
in ``personal_data`` and never enter score rows, audit details or aggregates.

Callers use the package (``from api import store``; ``store.get_sme(...)``): it gathers
the public names of its modules, one module per thing stored.
"""

from api.store.audit_log import audit, audit_events, processing_log
from api.store.batches import (
    batch_results,
    batch_results_page,
    batch_sme_ids,
    create_batch,
    fail_batch,
    find_batch_by_key,
    finish_batch,
    get_batch,
    iter_batch_results,
    release_idempotency_key,
)
from api.store.jobs import (
    REQUEST_STOPPED,
    Job,
    claim_job,
    fail_abandoned_jobs,
    finished_staging,
    forget_staging,
    queue_state,
    renew_lease,
    staging_in_use,
)
from api.store.keys import (
    KEY_PREFIX,
    LAST_USED_RESOLUTION,
    SCOPES,
    ApiKeyInfo,
    create_api_key,
    find_api_key,
    list_api_keys,
    may_write_personal,
    revoke_api_key,
)
from api.store.outcomes import (
    DECISION_CHANGEABLE,
    WORKLIST_MONTHS,
    DecisionFilter,
    UnscoredError,
    add_months,
    delete_decision,
    delete_followup,
    followup_worklist,
    followups_of,
    get_decision,
    get_followup,
    known_smes,
    labelled_decisions,
    list_decisions,
    outcome_aggregates,
    record_decisions,
    record_followups,
    update_decision,
    update_followup,
)
from api.store.protection import (
    ERASED_MESSAGE,
    erase_sme,
    erased_since,
    inactive_smes,
    purge_expired,
    subject_access,
)
from api.store.scores import (
    LATEST_SCORE_COLUMNS,
    iter_latest_scores,
    latest_scores,
    save_scored,
    score_history,
    score_history_page,
    sector_category_averages,
    sector_scored_count,
)
from api.store.smes import (
    cohort_members,
    cohort_names,
    cohort_profiles,
    cohort_rows,
    get_sme,
    list_smes,
    recent_profiles,
)
from api.store.users import (
    MIN_PASSWORD_LENGTH,
    USER_HASH_METHOD,
    USERNAME_PATTERN,
    LoginResult,
    UserInfo,
    check_login,
    create_user,
    disable_user,
    end_sessions,
    get_user,
    list_users,
    set_user_language,
)

__all__ = [  # noqa: RUF022 - grouped by module, like the imports
    # audit_log: the append-only processing log
    "audit",
    "audit_events",
    "processing_log",
    # batches: created, finished or failed, status and results
    "batch_results",
    "batch_results_page",
    "batch_sme_ids",
    "create_batch",
    "fail_batch",
    "find_batch_by_key",
    "finish_batch",
    "get_batch",
    "iter_batch_results",
    "release_idempotency_key",
    # jobs: the queue of background batches, leases, staging files
    "REQUEST_STOPPED",
    "Job",
    "claim_job",
    "fail_abandoned_jobs",
    "finished_staging",
    "forget_staging",
    "queue_state",
    "renew_lease",
    "staging_in_use",
    # keys: API keys
    "KEY_PREFIX",
    "LAST_USED_RESOLUTION",
    "SCOPES",
    "ApiKeyInfo",
    "create_api_key",
    "find_api_key",
    "list_api_keys",
    "may_write_personal",
    "revoke_api_key",
    # outcomes: support decisions, export follow-ups, derived labels, the worklist
    "DECISION_CHANGEABLE",
    "WORKLIST_MONTHS",
    "DecisionFilter",
    "UnscoredError",
    "add_months",
    "delete_decision",
    "delete_followup",
    "followup_worklist",
    "followups_of",
    "get_decision",
    "get_followup",
    "known_smes",
    "labelled_decisions",
    "list_decisions",
    "outcome_aggregates",
    "record_decisions",
    "record_followups",
    "update_decision",
    "update_followup",
    # protection: erasure, subject access, retention purge
    "ERASED_MESSAGE",
    "erase_sme",
    "erased_since",
    "inactive_smes",
    "purge_expired",
    "subject_access",
    # scores: stored scores, history, latest, aggregates
    "LATEST_SCORE_COLUMNS",
    "iter_latest_scores",
    "latest_scores",
    "save_scored",
    "score_history",
    "score_history_page",
    "sector_category_averages",
    "sector_scored_count",
    # smes: profiles, personal data, cohorts
    "cohort_members",
    "cohort_names",
    "cohort_profiles",
    "cohort_rows",
    "get_sme",
    "list_smes",
    "recent_profiles",
    # users: staff accounts, login lockout, web sessions
    "MIN_PASSWORD_LENGTH",
    "USER_HASH_METHOD",
    "USERNAME_PATTERN",
    "LoginResult",
    "UserInfo",
    "check_login",
    "create_user",
    "disable_user",
    "end_sessions",
    "get_user",
    "list_users",
    "set_user_language",
]
