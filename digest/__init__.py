"""digest: a daily arXiv papers digest and email newsletter."""

__version__ = "0.1.0"
