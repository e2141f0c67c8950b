"""Z3 encodings of the models and their proof obligations."""
