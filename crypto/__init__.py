"""Cryptographic building blocks: Paillier, CKKS, PSI and key handling.

Pure functions and small classes; nothing here knows about Flower or the catalog.
"""
