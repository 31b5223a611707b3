"""Tokenizers (train, load, fast encode) and the token store."""
