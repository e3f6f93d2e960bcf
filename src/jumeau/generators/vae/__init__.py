from jumeau.generators.vae.config import VAEConfig
from jumeau.generators.vae.model import VAE

__all__ = ["VAE", "VAEConfig"]
