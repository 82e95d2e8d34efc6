"""A run's report as CSV or PDF: who decided what, when, by whom, with what outcome.

CSV cells are defused like every export's (`accessportal.kernel.csv_safe.csv_defuse`: an
apostrophe before any part a spreadsheet would read as a formula, OWASP's CSV injection
advice). The PDF is drawn
by fpdf2 (pure Python, maintained), with its core fonts: text outside Latin-1 is replaced.
"""

from __future__ import annotations

import csv
import io

from fpdf import FPDF

from accessportal.kernel.csv_safe import csv_defuse
from requests_app.models import CampaignRun
from requests_app.selectors.access_reviews import campaign_report_rows

COLUMNS = ["user", "role", "sources", "decision", "outcome", "decided_by", "decided_at",
           "reason", "note"]  # fmt: skip


def csv_cell(value: object) -> str:
    """A cell no spreadsheet runs as a formula."""
    return csv_defuse("" if value is None else str(value))


def report_csv(run: CampaignRun) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in campaign_report_rows(run):
        writer.writerow([csv_cell(row[c]) for c in COLUMNS])
    return out.getvalue()


# A PDF table row must fit on one page (fpdf2 raises otherwise): a cell longer than this is
# cut, and says where the whole text is. Reasons may be 4,096 characters (text.MAX_REASON).
PDF_CELL_MAX = 300


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _pdf_cell(text: str) -> str:
    if len(text) > PDF_CELL_MAX:
        text = text[:PDF_CELL_MAX].rstrip() + "... (full text in the CSV or JSON report)"
    return _latin1(text)


def report_pdf(run: CampaignRun) -> bytes:
    pdf = FPDF(orientation="landscape")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(
        0, 8, _latin1(f"Access review {run.name} (run {run.pk})"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", size=9)
    facts = (
        f"Started {run.started:%Y-%m-%d %H:%M} UTC by {run.started_by}; deadline "
        f"{run.deadline:%Y-%m-%d %H:%M} UTC; {run.get_state_display()}; "
        f"on_missed: {run.spec.get('on_missed', 'keep')}"
    )
    pdf.multi_cell(0, 5, _latin1(facts), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    headings = ["user", "role", "decision", "outcome", "decided_by", "decided_at", "reason"]
    with pdf.table(col_widths=(30, 30, 20, 30, 28, 40, 90), text_align="LEFT") as table:
        table.row(headings)
        for row in campaign_report_rows(run):
            reason = " ".join(filter(None, [row["reason"], row["note"]]))
            table.row([_pdf_cell(str(row[h] if h != "reason" else reason)) for h in headings])
    return bytes(pdf.output())
