"""Delivery backends behind one small interface (see base.py) and the delivery ledger."""

from digest.mail.registry import get_backend

__all__ = ["get_backend"]
