"""The protocols, one model per module. Every Model subclass here is found by name."""
