"""leakmon: watch where stolen data is traded for an organization's names and records."""

__version__ = "0.1.0"
