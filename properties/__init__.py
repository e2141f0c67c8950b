"""Properties shared by several models, and the Z3 proof obligations."""
