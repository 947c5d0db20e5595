"""A local stand-in for Meta's Graph API (Facebook Pages and Instagram publishing).

    python -m devstack.sandbox --port 8089 [--app-secret S]

Serves the paths, parameters, answers, error envelopes and usage headers the adapters use,
keeps what was published (GET /_sandbox/posts, and an HTML page at /_sandbox/), and takes
per-account fault injection over HTTP (POST /_sandbox/faults). `control` starts and drives it.
"""
