"""Core statements run on the driver's own cursor: for the few run on every single score.

SQLAlchemy's execution layer (execution context, result object, events) costs about
30 µs a statement on this kind of machine, more than SQLite takes to run a one-row insert,
and a stored score runs eight statements. ``Direct`` compiles a statement once per
dialect and set of parameter names, then runs it on the cursor of the caller's
connection: in the same transaction (and, on SQLite, the same writers' queue) as
everything else the session does, with the same SQL and the same parameter values
SQLAlchemy would send (the types' bind processors applied, Python-side column defaults
filled in). A test holds the parameters to SQLAlchemy's own for every statement run this
way, on SQLite and PostgreSQL.

Only what one row needs: one set of parameters per execution, no expanding ``IN`` lists,
and rows back as named tuples with the types' result processors applied. The driver's
errors come out as SQLAlchemy's (``OperationalError`` and the rest, parameters hidden), and
a connection they say is lost is invalidated, as SQLAlchemy does.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


class Direct:
    """A statement compiled once per dialect and parameter names, run on the DBAPI cursor."""

    def __init__(self, statement: ClauseElement):
        self.statement = statement
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[frozenset, _Compiled]] = (
            weakref.WeakKeyDictionary()
        )

    def rows(self, connection: Connection, params: Mapping[str, Any] | None = None) -> list:
        """Run the statement with ``params`` on ``connection``'s transaction; the rows it
        returns (a query's or RETURNING's), as named tuples."""
        params = params or {}
        compiled = self.compiled(connection.dialect, params)
        driver = connection.connection.dbapi_connection
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            rows = cursor.fetchall() if compiled.row is not None else []
        except connection.dialect.loaded_dbapi.Error as error:
            raise _translated(connection, driver, cursor, compiled.sql, params, error) from error
        finally:
            cursor.close()
        return [compiled.row(*row) for row in map(compiled.process_row, rows)]

    def run(self, connection: Connection, params: Mapping[str, Any] | None = None) -> None:
        """Run the statement (one that returns no rows) with ``params``."""
        self.rows(connection, params)

    def compiled(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        """The statement as compiled for ``dialect`` and the names in ``params``."""
        by_names = self._compiled.setdefault(dialect, {})
        names = frozenset(params)
        compiled = by_names.get(names)
        if compiled is None:
            compiled = by_names[names] = _Compiled(self.statement, dialect, names)
        return compiled


class _Compiled:
    """The SQL text, how parameters are bound and how returned rows are read."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: frozenset):
        compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
        for bind in compiled.binds.values():
            if bind.expanding or bind.literal_execute:
                raise ValueError(f"{bind.key}: expanding parameters are not run directly")
        if compiled.escaped_bind_names:
            raise ValueError("parameter names that need escaping are not run directly")
        self.sql = compiled.string
        self._compiled = compiled
        self._positions = compiled.positiontup  # None with a named paramstyle
        #: the parameters' names, in the order the driver gets them
        self.names = tuple(self._positions or compiled.binds)
        self._processors: dict[str, Callable] = {}
        for key, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._processors[key] = processor
        # Python-side defaults of columns left out of ``names`` (an insert's ``at``)
        self._defaults: dict[str, Callable[[], Any]] = {}
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            if column.key not in names:
                self._defaults[column.key] = _default_of(column)
        # a query's columns, or those of a data change's RETURNING (none without one)
        columns = list(getattr(statement, "exported_columns", ()))
        self.row = None
        if columns:
            self.row = namedtuple("Row", [column.key for column in columns], rename=True)
        self._results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def parameters(self, params: Mapping[str, Any]) -> tuple | dict:
        """What the driver gets: the values in the order or under the names of the SQL."""
        if self._defaults:
            params = {**{k: make() for k, make in self._defaults.items()}, **params}
        values = self._compiled.construct_params(params)
        for key, processor in self._processors.items():
            values[key] = processor(values[key])
        if self._positions is None:
            return values
        return tuple(values[key] for key in self._positions)

    def process_row(self, row: tuple) -> tuple:
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self._results, row, strict=True)
        )


def _translated(connection: Connection, driver, cursor, sql: str, params, error: Exception):
    """The driver's ``error`` as SQLAlchemy raises it (``OperationalError``,
    ``IntegrityError`` ...; parameters hidden as the engine hides them), the connection
    invalidated first if the error says it is lost, as SQLAlchemy does."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, driver, cursor)
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(
        sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=False,
    )


def _default_of(column) -> Callable[[], Any]:
    """A zero-argument function giving ``column``'s Python-side default."""
    default = column.default
    if default is None or not (default.is_scalar or default.is_callable):
        raise ValueError(f"{column.key}: only scalar and callable defaults are filled in")
    if default.is_scalar:
        return lambda: default.arg
    return lambda: default.arg(None)  # SQLAlchemy wraps a callable to take a context


#: One ``Direct`` per statement run this way, by the statement's identity (the
#: statements are built once and live as long as the process).
_DIRECT: dict[int, tuple[ClauseElement, Direct]] = {}


def direct(statement: ClauseElement) -> Direct:
    """The ``Direct`` of ``statement`` (made on first use)."""
    entry = _DIRECT.get(id(statement))
    if entry is None or entry[0] is not statement:
        entry = _DIRECT[id(statement)] = (statement, Direct(statement))
    return entry[1]


def execute(connection: Connection, statement: ClauseElement, rows: Sequence[Mapping]) -> None:
    """``connection.execute(statement, rows)``; a single row straight on the driver's
    cursor (many rows keep SQLAlchemy's batched inserts)."""
    if len(rows) == 1:
        direct(statement).run(connection, rows[0])
    else:
        connection.execute(statement, rows)
