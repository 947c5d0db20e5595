"""Meta's Graph API: the client, the Page and Instagram adapters, read-back, token check."""
