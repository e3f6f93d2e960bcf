"""Bundled real clinical datasets: ``jumeau.datasets.load("gbsg2")``."""

from jumeau.data.datasets import DatasetInfo, dataset_schema, list_datasets, load_dataset

load = load_dataset
schema = dataset_schema

__all__ = ["DatasetInfo", "dataset_schema", "list_datasets", "load", "load_dataset", "schema"]
