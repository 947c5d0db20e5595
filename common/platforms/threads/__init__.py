"""Threads (Meta): a container flow like Instagram's on `graph.threads.net`.

Exactly once comes from the container: its id is stored before `threads_publish`, the one
non-idempotent call, and its `status` says whether it was published; a PUBLISHED container is
never published again.
"""
