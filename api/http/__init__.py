"""The HTTP edge of the JSON API: keys and scopes, rate limits, errors, OpenAPI, schemas."""
