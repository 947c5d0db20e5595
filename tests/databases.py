"""Each test's database: the collections and indexes of a deployment (ensure_indexes), no
document, and no other test's leftovers.

A new database costs a createIndexes per collection, and dropping it one more command: in
`make test-fast` more commands than all the tests' own writes. A test that writes only from this
process (the db layer starts none) is watched by a command listener instead, and emptying the
collections it wrote hands the next test a database equal to a new one for a command or two.
A database whose collections or indexes a test changed is dropped, as is any other test's.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from pymongo import MongoClient, monitoring

from common.db import INDEXES, Doc, ensure_indexes

# Commands that write documents; their first field names the collection.
_DOCUMENT_WRITES = frozenset({"insert", "update", "delete", "findAndModify"})
# Commands that change a database's collections or indexes: only a new database is equal to a
# new one after them.
_SHAPE_CHANGES = frozenset(
    {
        "create",
        "createIndexes",
        "drop",
        "dropIndexes",
        "collMod",
        "dropDatabase",
        "convertToCapped",
        "cloneCollectionAsCapped",
    }
)


def new_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


def _writes_elsewhere(command: str, body: Any) -> bool:
    """Commands that may change another database than the one they run in."""
    if command in ("renameCollection", "bulkWrite", "applyOps", "mapReduce"):
        return True
    stages = body.get("pipeline", []) if command == "aggregate" else []
    return any("$out" in stage or "$merge" in stage for stage in stages)


class WriteLog(monitoring.CommandListener):
    """The collections written in each watched database, or None once its shape changed.

    Registered before any client is made (a client reports to the listeners registered when it
    was made), it hears every client of the process, also those of the code under test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, set[str] | None] = {}

    def watch(self, database: str) -> None:
        with self._lock:
            self._written[database] = set()

    def forget(self, database: str) -> set[str] | None:
        with self._lock:
            return self._written.pop(database)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command_name
        with self._lock:
            if _writes_elsewhere(command, event.command):
                self._written = dict.fromkeys(self._written)
                return
            if event.database_name not in self._written:
                return
            written = self._written[event.database_name]
            if written is None:
                return
            if command in _SHAPE_CHANGES:
                self._written[event.database_name] = None
            elif command in _DOCUMENT_WRITES:
                written.add(str(event.command[command]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class CleanDatabases:
    """Clean databases for the tests: new ones, and those a watched test emptied."""

    def __init__(self, client: MongoClient[Doc], log: WriteLog) -> None:
        self.client = client
        self.log = log
        self._clean: list[str] = []

    def take(self) -> str:
        name = self._clean.pop() if self._clean else None
        if name is None:
            name = new_name()
            ensure_indexes(self.client[name])
        self.log.watch(name)
        return name

    def give_back(self, name: str, *, watched_all_writes: bool) -> None:
        written = self.log.forget(name)
        if written is None or not watched_all_writes:
            self.client.drop_database(name)
            return
        database = self.client[name]
        for collection in written:
            if collection in INDEXES:
                database[collection].delete_many({})
            else:
                database.drop_collection(collection)
        self._clean.append(name)

    def close(self) -> None:
        for name in self._clean:
            self.client.drop_database(name)
        self._clean.clear()
