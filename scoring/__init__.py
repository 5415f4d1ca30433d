"""SME export-readiness scoring: the profile contract, rules, model, blend and explanations.

Pure Python with pandas and scikit-learn; nothing here imports the web service in ``api``.
Entry points: ``scoring.engine.Scorer`` (load a ruleset and model, score frames or one
profile) and the ``sme-export`` command line in ``api.cli``.
"""
