"""The web app for the people who plan posts: calendar, composer, post proof, accounts, status.

Server-rendered (Jinja2) with HTMX for the small live parts; it calls the use cases directly,
never the API over HTTP. `app.web_request` is the web function's whole flow.
"""
