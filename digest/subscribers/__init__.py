"""Subscribers: validated adds and changes, lookups and feedback by address (`manage`), and
lists in and out as CSV or JSON (`import_export`)."""
