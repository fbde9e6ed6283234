"""The one place that knows where the project's own files live (templates, samples)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
TEMPLATES_DIR = PROJECT_DIR / "templates"
SAMPLES_DIR = PROJECT_DIR / "data" / "samples"
