"""A stand-in OpenID provider for the web app's sign-in (see app.py)."""
