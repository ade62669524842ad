"""hybridports: the network side of a Microsoft hybrid identity deployment, as data."""

__version__ = "0.1.0"
