"""Delivery backends behind one small interface (see base.py) and the delivery ledger."""
