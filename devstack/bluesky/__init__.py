"""A local stand-in for a Bluesky PDS (AT Protocol XRPC), like devstack.sandbox for Meta.

    python -m devstack.bluesky --port 8090

Serves the XRPC methods the adapter uses with the PDS's paths, JSON and error envelopes
(`{"error", "message"}`), including today's HTTP 500 for a record key that already exists,
sessions with expiring access JWTs and rotating refresh JWTs, and `ratelimit-*` headers on a
429. The control surface is the Meta sandbox's: /_sandbox/posts, stats, accounts, faults, reset.
"""
