"""What every refusal of the HTTP functions answers."""

from __future__ import annotations

from common.entrypoints.api.shapes.bulk import RowProblem
from common.schema import shape, spec


@shape
class ItemProblem:
    index: int = spec(description="the item in a batch (0 for one post)")
    field: str
    message: str


@shape
class ApiError:
    error: str
    request_id: str
    status: str | None = spec(
        default=None, description="the post's status when an action was refused"
    )
    problems: tuple[ItemProblem, ...] | None = None
    rows: tuple[RowProblem, ...] | None = spec(
        default=None, description="an import's problems by line"
    )


@shape
class Error:
    error: str
    request_id: str
