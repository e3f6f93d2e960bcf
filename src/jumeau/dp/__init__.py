"""Differential privacy mechanisms (OpenDP) and their budget (zCDP), shared by every generator
and by federated sites."""
