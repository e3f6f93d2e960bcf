from jumeau.generators.rhvae.config import RHVAEConfig
from jumeau.generators.rhvae.model import RHVAE

__all__ = ["RHVAE", "RHVAEConfig"]
