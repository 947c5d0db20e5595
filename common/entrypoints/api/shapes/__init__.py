"""The api's shapes and route declarations, one module per resource (plain data: the CLI's
remote mode and the OpenAPI generator read them without the handlers)."""
