"""The longitudinal VAE: a recurrent, continuous-time course model conditioned on baseline."""
