"""The api function: the JSON API under /v1, by resource.

shapes/ declares every request and answer shape and every route (docs/openapi.yaml is
generated from them); routes.py maps a path and method to its declared operation; app.py
authenticates a request and hands it to its resource's handler (posts, review, bulk, media,
accounts), each a thin call of a use case in common.operations.
"""
