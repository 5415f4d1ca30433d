"""What the JSON API and the staff pages share: the scorer, batch ingest and jobs, exports,
lookups, governance."""
