"""A local stand-in for a Mastodon instance's REST API, like devstack.sandbox for Meta.

    python -m devstack.mastodon --port 8091

Serves the methods the adapter uses with Mastodon's paths, JSON and `{"error": ...}` answers:
statuses with `Idempotency-Key` (a repeat within the window returns the first status; after it
a repeat makes a second one, as on a real instance), media uploads answered 202 and processed
in the background, the account's statuses, and `X-RateLimit-*` headers. The control surface is
the Meta sandbox's: /_sandbox/posts, stats, accounts, faults, reset.
"""
