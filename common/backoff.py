"""The one retry schedule: exponential backoff with full jitter, capped."""

from __future__ import annotations

from datetime import timedelta


def retry_delay(
    attempts_so_far: int, base_seconds: float, max_seconds: float, jitter: float
) -> timedelta:
    """Delay before the next attempt after `attempts_so_far` failed ones (1 = first failure).

    `jitter` is the caller's uniform draw in [0, 1], so the schedule itself stays pure.

    Full jitter (a uniform draw up to the exponential ceiling) spreads retries of many posts
    that failed together, so a recovering platform is not hit by a synchronized burst; the
    floor of half the base keeps a retry from landing in the same minute's tick.
    """
    ceiling = min(max_seconds, base_seconds * 2 ** max(attempts_so_far - 1, 0))
    floor = base_seconds / 2
    return timedelta(seconds=floor + jitter * max(ceiling - floor, 0.0))
