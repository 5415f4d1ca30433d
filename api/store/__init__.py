"""Repository functions: the only place that runs queries (see ``api.store.smes``)."""

from api.store.smes import *  # noqa: F403
