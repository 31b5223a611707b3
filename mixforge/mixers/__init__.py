"""Mixes: the Mix object, strategies that return one, and materializing a mix to a budget."""
