"""Use cases: what an operator or an application asks of the scheduler.

The CLI (and the API) parse a request, call one function in the module of its family and print or
send the typed result back; none of them touches posts or accounts directly. Callers import the
module they use (`from common.operations import scheduling`); there is no catch-all re-export.
"""
