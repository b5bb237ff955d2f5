"""hmrec: two-stage "what will this customer buy next week" recommender for H&M-shaped data."""

__version__ = "0.1.0"
