"""Medical images: small image cohorts, convolutional VAE/RHVAE augmentation, and the protocol
that measures whether artificial images help a classifier (capability C7)."""
