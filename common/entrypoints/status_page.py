"""The status report as a small page for people: same figures as the JSON, nothing more.

Self-contained (inline CSS and SVG, no scripts, no external assets), refreshes itself every 30 s,
and every value is HTML-escaped. The state is said in plain words first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any

from common.status import History, StatusReport

REFRESH_SECONDS = 30
# The page needs no script, font or remote image: the policy forbids them all.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 480, 120, 18


def plain_state(report: Mapping[str, Any]) -> list[str]:
    """The state in words: "operational" first when it is, then anything that needs a look.

    Read from the report's JSON (StatusReport.to_dict), so the CLI words a remote report (the
    status URL's answer) exactly as a local one."""
    if not report["databaseAvailable"]:
        return ["database unavailable"]
    words: list[str] = []
    age = report["health"]["lastRunAgeSeconds"]
    operational, meta_connected = report["operational"], report["metaConnected"]
    if age is None:
        words.append("no run yet")
    elif not operational and meta_connected:
        minutes = int(age // 60)
        words.append(f"no run for {minutes} minute{'s' if minutes != 1 else ''}")
    if not meta_connected:
        words.append("no platform connected")
    reauth = sum(p["needsReauth"] for p in report["platforms"].values())
    if reauth:
        need = f"{reauth} account{'s need' if reauth != 1 else ' needs'} re-authentication"
        words.append(f"{need} ({_which(report['platforms'])})")
    failed, unknown = report["queue"]["failed"], report["queue"]["unknown"]
    if unknown:
        words.append(f"{unknown} post{'s' if unknown != 1 else ''} in unknown state")
    if failed:
        words.append(f"{failed} failed post{'s' if failed != 1 else ''}")
    # Operational with problems still reads "operational" first: nothing is down.
    return ["operational", *words] if operational else words


def tone(state: list[str]) -> str:
    """The state box's colour: green only when nothing needs a look; operational with something
    to do is a warning."""
    if state == ["operational"]:
        return "good"
    return "warn" if state[0] == "operational" else "bad"


def _which(platforms: Mapping[str, Any]) -> str:
    """By platform: the account ids when the report names them (signed-in readers), else the
    count (the public report names no account)."""
    return "; ".join(
        f"{name}: {', '.join(p['reauthAccounts'])}"
        if p.get("reauthAccounts")
        else f"{name} {p['needsReauth']}"
        for name, p in platforms.items()
        if p["needsReauth"]
    )


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(_text(value))}</td></tr>"
        for label, value in pairs
    )


def chart_svg(history: History) -> str:
    """Bars per hour: published above the axis in green, failed in red, oldest hour on the left."""
    published, failed = history.published, history.failed
    hours = len(published)
    peak = max([*published, *failed, 1])
    slot = (CHART_WIDTH - 2 * CHART_PAD) / hours
    usable = CHART_HEIGHT - 2 * CHART_PAD
    bars: list[str] = []
    for i, (ok, bad) in enumerate(zip(published, failed, strict=True)):
        x = CHART_PAD + i * slot
        for offset, count, css in ((0.1, ok, "ok"), (0.5, bad, "bad")):
            height = usable * count / peak
            y = CHART_HEIGHT - CHART_PAD - height
            hours_ago = hours - 1 - i
            what = "published" if css == "ok" else "failed"
            label = f"{hours_ago}-{hours_ago + 1} h ago: {count} {what}"
            bars.append(
                f'<rect class="{css}" x="{x + slot * offset:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.38:.1f}" height="{height:.1f}"><title>{label}</title></rect>'
            )
    axis_y = CHART_HEIGHT - CHART_PAD
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'role="img" aria-label="posts published and failed per hour, last 24 hours">'
        f'<line x1="{CHART_PAD}" y1="{axis_y}" x2="{CHART_WIDTH - CHART_PAD}" y2="{axis_y}" '
        f'stroke="#888"/>{"".join(bars)}'
        f'<text x="{CHART_PAD}" y="{CHART_HEIGHT - 3}">24 h ago</text>'
        f'<text x="{CHART_WIDTH - CHART_PAD}" y="{CHART_HEIGHT - 3}" text-anchor="end">now</text>'
        f'<text x="{CHART_PAD}" y="12">peak {peak}/h</text></svg>'
    )


_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:44rem;color:#222}
h1{font-size:1.3rem}.state{font-size:1.2rem;padding:.6rem 1rem;border-radius:6px}
.good{background:#e3f6e8}.warn{background:#fff1cc}.bad{background:#fde8e8}
table{border-collapse:collapse;margin:.5rem 0}
th{text-align:left;font-weight:500;padding:.15rem 1.2rem .15rem 0;color:#555}
svg text{font-size:10px;fill:#555}rect.ok{fill:#2e9d4f}rect.bad{fill:#d64545}
"""


def _unnamed_hint(report: StatusReport) -> str:
    """This page is public: it counts the accounts to re-authenticate and says where they are
    named, for people who may see them."""
    if not any(p.needs_reauth and not p.reauth_ids for p in report.platforms.values()):
        return ""
    return (
        "<p><small>Which accounts: <code>socialsched status</code> or the web app's Status "
        "page (this public page names none).</small></p>"
    )


def render(report: StatusReport) -> str:
    state = plain_state(report.to_dict())
    scheduler, queue, health = report.scheduler, report.queue, report.health
    next_post = scheduler.next_post
    platforms = [
        (f"{name} accounts", f"{p.connected} connected, {p.needs_reauth} need re-auth")
        for name, p in report.platforms.items()
    ]
    on_time = health.on_time_rate_24h
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Scheduler status: {escape(", ".join(state))}</title><style>{_STYLE}</style></head>
<body><h1>Social scheduler</h1>
<p class="state {tone(state)}" id="state">{escape("; ".join(state))}</p>{_unnamed_hint(report)}
<h2>Scheduler</h2><table>{
        _rows(
            [
                ("last run", scheduler.last_run_at),
                ("last run status", scheduler.last_run_status),
                ("last run duration (s)", scheduler.last_run_duration),
                ("seconds since last run", health.last_run_age_seconds),
                ("runs", scheduler.total_executions),
                ("posts published", scheduler.total_posts_published),
                ("posts failed", scheduler.total_posts_failed),
                ("execution lock", "held" if scheduler.lock_held else "free"),
                (
                    "next post",
                    f"{_text(next_post.platform)} at {_text(next_post.due_at)}"
                    if next_post
                    else None,
                ),
            ]
        )
    }</table>
<h2>Queue</h2><table>{
        _rows(
            [
                ("due now", queue.due),
                ("scheduled", queue.scheduled),
                ("failed", queue.failed),
                ("unknown", queue.unknown),
                ("lag (s)", health.lag_seconds),
                ("on time, last 24 h", None if on_time is None else f"{on_time:.1%}"),
            ]
        )
    }</table>
<h2>Platforms</h2><table>{_rows(platforms)}</table>
<h2>Last 24 hours</h2>{chart_svg(report.history_24h)}
<p><small>version {escape(report.version)} · checked {escape(_text(report.checked_at))}
· refreshes every {REFRESH_SECONDS} s</small></p>
</body></html>
"""
