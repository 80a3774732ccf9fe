"""``rasa`` as the desk runs it: Rasa 3.6's own command line, with one cost of each turn taken out.

Run by the Rasa venv's Python (``.venv-rasa/bin/python bot/rasa_server.py run …``, see
``hub.rasa_model.server_command``), never imported by the hub: it must stay Python 3.10 code that
imports only Rasa and its dependencies.

What it changes, and why (each measured with ``bench/turn_latency.py``; docs/benchmarks.md):

* **The action server's answer is validated against a schema checked once.** Rasa 3.6 checks every
  custom action's answer with ``jsonschema.validate``, which first validates the (constant) schema
  itself against the 2020-12 meta-schema: on this machine that is about half of the CPU a Rasa FAQ
  turn costs. The answer is still validated, with the same schema, the same validator class, the
  same error and message (``jsonschema``'s ``best_match``); only the schema's own check is done
  once, at start, as ``jsonschema``'s documentation advises for a schema used many times.
* **An event's class is looked up once per event name.** Rasa finds the class of every stored event
  it reads back (``Event.resolve_by_type``, a tracker's every event on every turn) by walking all
  the subclasses of ``Event`` anew; the class found for a name is remembered (an unknown name still
  takes Rasa's own path, and its error).
* **The embedded setup's SQLite tracker store writes ahead** (``journal_mode=WAL``,
  ``synchronous=NORMAL``, as SQLite advises for WAL): a turn's commit no longer waits for the disk
  to flush, which on a shared disk took milliseconds; its connections stay open in a pool. A crash of Rasa loses nothing; a power cut
  may lose the last turns' tracker events, never the messages (the hub's own database has them).
  PostgreSQL trackers (the scaled setup) are left as they are.

Written for Rasa 3.6 (``requirements/rasa.lock``): another version runs as it comes, unchanged.
"""

from __future__ import annotations

import sys
from typing import Any


def _validate_action_results_with_one_validator() -> None:
    """Replace ``RemoteAction._validate_action_result`` with the same check on a validator built
    once per action class (``action_response_format_spec`` is a constant schema)."""
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    built: dict[type, Any] = {}

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        validator = built.get(type(self))
        if validator is None:
            schema = self.action_response_format_spec()
            cls = validators.validator_for(schema)
            cls.check_schema(schema)  # what jsonschema.validate does on every call, here once
            validator = built[type(self)] = cls(schema)
        error = best_match(validator.iter_errors(result))
        if error is not None:
            # Rasa's own wording (rasa.core.actions.action.RemoteAction._validate_action_result).
            error.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    RemoteAction._validate_action_result = validate_action_result


def _remember_event_classes() -> None:
    """``Event.resolve_by_type`` with the class found for each name remembered."""
    from rasa.shared.core.events import Event

    resolve = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        cls = found.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def _sqlite_trackers_write_ahead() -> None:
    """Every SQLite connection Rasa opens (its tracker store's) in WAL mode, synced at checkpoints,
    and kept open in a pool (SQLAlchemy 1.4 opens and closes a file database's connection for every
    session, and the last one to close a WAL database checkpoints it: a flush to disk again)."""
    import sqlite3

    import rasa.core.tracker_store as tracker_store
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import QueuePool

    engine_kwargs = tracker_store.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        if str(url).startswith("sqlite"):
            # A pooled connection is used by one session at a time, whichever thread it runs in.
            return {"poolclass": QueuePool, "connect_args": {"check_same_thread": False}}
        return engine_kwargs(url)

    tracker_store.create_engine_kwargs = create_engine_kwargs

    @event.listens_for(Engine, "connect")
    def write_ahead(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


def main() -> None:
    """Rasa's command line (``sys.argv`` as ``rasa`` reads it), with the changes above."""
    # Run as a file, Python put bot/ first on the path: Rasa must not see bot/actions as `actions`.
    if sys.path and sys.path[0].rstrip("/").endswith("bot"):
        del sys.path[0]
    from rasa.version import __version__

    if __version__.startswith("3.6."):
        _validate_action_results_with_one_validator()
        _remember_event_classes()
        _sqlite_trackers_write_ahead()
    else:
        print(f"bot/rasa_server.py: written for Rasa 3.6, running {__version__} unchanged", file=sys.stderr)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
