"""The file formats read and written, by their short names."""

FORMATS = ("csv", "xlsx", "parquet", "json", "jsonl")
