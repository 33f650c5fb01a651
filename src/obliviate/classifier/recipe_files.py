"""Recipe files of the classifier family (``bench classifier --recipe``, ``train`` / ``unlearn --recipe``,
written by ``obliviate tune``): the family-neutral format of :mod:`obliviate.bench.recipe_files`, refusing a
file written for another family or with ``[eval]`` settings (the classifier bench has none).

Precedence, lowest first: a method's paper defaults < the built-in dataset recipe
(:mod:`obliviate.classifier.recipes`) < the recipe file < ``--param`` / ``--train``.
"""

from __future__ import annotations

from pathlib import Path

from ..bench.recipe_files import RecipeFile, _flatten, check_no_section, check_recipe_for, validate_recipe
from ..bench.recipe_files import load_recipe as load_any_recipe

__all__ = ["RecipeFile", "_flatten", "load_recipe", "validate_recipe"]


def load_recipe(path: str | Path) -> RecipeFile:
    """Read and validate a classifier recipe file (:func:`obliviate.bench.recipe_files.load_recipe`)."""
    recipe = load_any_recipe(path)
    check_recipe_for(recipe, "classifier", "classifier")
    check_no_section(recipe, "eval", "classifier", "it has no evaluation settings")
    return recipe
