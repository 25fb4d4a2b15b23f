"""The SDK's sections behind :class:`lab.sdk.Lab`: one module per part of the lab (catalog,
experiments, models, governance), with the plots and progress display they use.

What it reveals, to whom: what lab.services returns to the connected user, nothing more.
"""

__all__: list[str] = []
