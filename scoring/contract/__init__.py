"""The profile contract: the field table, column access, validation of tables and single
profiles."""
