"""Subscribers: validated adds and changes, lookups and feedback by address (`manage`), lists
in and out as CSV or JSON (`import_export`), a reader's reference library (`library_formats`
reads BibTeX/RIS/CSL-JSON, `library.import_library` matches and stores it) and their chat
channel (`channels`)."""
