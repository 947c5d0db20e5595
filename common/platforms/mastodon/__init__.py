"""Mastodon: statuses on the account's own instance.

Exactly once comes from the `Idempotency-Key` header: derived from the post id and version, a
repeated request within about an hour returns the status the first one made. After that window
the account's statuses are read back instead (`find_published`).
"""
