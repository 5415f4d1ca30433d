"""Files in and out: readers for CSV, XLSX, Parquet and JSON; writers; atomic output."""
