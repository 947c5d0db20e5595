"""Bluesky (AT Protocol): a post is a record in the account's repository.

Exactly once comes from the record key: it is derived from the post id (`record_key`), so
the same post can exist only once in the repository, and `getRecord` says for certain whether
an unclear `createRecord` was written.
"""
