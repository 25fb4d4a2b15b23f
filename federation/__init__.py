"""Flower ServerApp/ClientApp and the federated protocols (one module per protocol)."""
