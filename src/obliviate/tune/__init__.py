"""``obliviate tune``: a hyperparameter search for one unlearning method on validation tasks (Optuna, an
optional extra: ``pip install 'obliviate[tune]'``).

- :mod:`.space`: the search space (``--space NAME=LOW:HIGH[:log]``, or the default from the method's config);
- :mod:`.objective`: what a trial scores (the mean average gap to retrain, or the retrain-free objective);
- :mod:`.study`: the Optuna study kept in ``OUT/study.db`` (resumable, shareable), trials.json and recipe.toml;
- :mod:`.command`: the command line (``add_tune_parser``, ``cmd_tune``).
"""
