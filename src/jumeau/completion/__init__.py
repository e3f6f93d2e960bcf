"""Completion (multiple imputation) with the fitted generators, and Rubin's rules to pool."""

from jumeau.completion.impute import Completion, complete
from jumeau.completion.pool import PooledResult, pool
from jumeau.generators.completion import CompletionReport

__all__ = ["Completion", "CompletionReport", "PooledResult", "complete", "pool"]
