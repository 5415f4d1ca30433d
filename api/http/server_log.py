"""The access log of ``sme-export serve``: the path of each request, never its query.

Query strings carry what staff searched for (a business name in ``/cohorts?q=...``) and
would outlive an erasure in the server's log, so werkzeug's request line is logged
without them. (gunicorn writes no access log unless told to; with ``--access-logfile``
give it ``--access-logformat`` with ``%(U)s``, the path, instead of ``%(r)s``.)
"""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler
from werkzeug.urls import uri_to_iri


class PathOnlyRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging ``METHOD /path HTTP/1.1`` status and size."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        try:
            path = uri_to_iri(self.path.partition("?")[0])
            line = f"{self.command} {path} {self.request_version}"
        except AttributeError:  # no path: the request line could not be read
            line = "-"
        line = line.translate(self._control_char_table)
        self.log("info", '"%s" %s %s', line, code, size)
