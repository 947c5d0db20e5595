"""Transports: each module turns one way in (a CloudEvent, an HTTP request, the command line)
into a call on `common` and its result back into an answer. Nothing below imports them."""
