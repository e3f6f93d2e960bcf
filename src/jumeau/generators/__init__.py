"""Generators of artificial patients, behind one small contract (see `base.Generator`)."""

from jumeau.generators.base import Generator, NotFittedError, SamplingError, SamplingReport
from jumeau.generators.persistence import ModelFileError, load_generator
from jumeau.generators.registry import available_generators, generator_class, make_generator

__all__ = [
    "Generator",
    "ModelFileError",
    "NotFittedError",
    "SamplingError",
    "SamplingReport",
    "available_generators",
    "generator_class",
    "load_generator",
    "make_generator",
]
