"""The export-standard checklist: ruleset loading, conditions and operators, the ruleset
registry."""
