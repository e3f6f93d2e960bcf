"""Pieces shared by the neural generators (VAE, RHVAE): likelihood, networks, training loop."""
