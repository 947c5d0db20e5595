"""The `socialsched` command (common.entrypoints.cli.main), one module per command group:
admin (run, status, lock), posts, accounts, keys, importing, dev. Every command handler takes
the parsed arguments and a Backend (backend.py): Direct on the database, or Remote through the
api function."""
