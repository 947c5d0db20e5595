"""What one request of the api (its `Call`) and of the web app (its `Ctx`) share: the
instance's database and settings, and the audit entry of each write the request makes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pymongo.database import Database

from common import audit
from common.config import Settings
from common.db import Doc


class Service(Protocol):
    """The per-instance service a request works with (the api's and the web app's)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database[Doc]: ...


class RequestScope(ABC):
    """A base for the request dataclasses, which hold `service`, `rid` and `now` and say who
    asks (`who`)."""

    service: Service
    rid: str
    now: datetime

    @property
    @abstractmethod
    def who(self) -> str:
        """Who asks, as the audit trail names them."""

    @property
    def db(self) -> Database[Doc]:
        return self.service.db

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def audit(self, action: str, targets: Sequence[str], status: int) -> None:
        entry = audit.Entry(self.who, action, targets, self.rid, status)
        audit.record(self.db, entry, self.now, self.settings.audit_retention_days)
