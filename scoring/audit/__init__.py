"""Reviews of models and rulesets: fairness, drift, model card, ruleset diff and impact."""
