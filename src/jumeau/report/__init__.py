"""Rendering of validation reports (HTML + JSON). Numbers come from `jumeau.evaluation`."""

from jumeau.report.html import render_html, report_meta, write_report

__all__ = ["render_html", "report_meta", "write_report"]
