"""Scheduler wiring: which job runs when (APScheduler 3.x). Nothing else lives here."""
