from jumeau.generators.copula.config import CopulaConfig
from jumeau.generators.copula.model import GaussianCopula

__all__ = ["CopulaConfig", "GaussianCopula"]
