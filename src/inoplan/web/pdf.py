"""PDF documents of the web UI (fpdf2): the preparation worksheet with its bag label, and the
patient handout.

Every number on the worksheet comes from ``services.dosing.dose_json`` (and the decision it
was checked against); label texts (storage, handling, premedication, observation) come from the
label revision's knowledge file. The handout is written in plain language (short sentences,
everyday words; the tests measure its reading grade). Every page of every printout carries two
patient identifiers (name, or "name not recorded", and birth date) with the record number in
its header, and the disclaimer (a qualified clinician confirms each decision) in its footer.

The worksheet keeps the doses and the signatures on one page (the dose, preparation and
signature block is one unbreakable block); the bag label carries a QR code of the order
(``segno``: ISO/IEC 18004, error correction M).

Text uses the PDF core fonts, so it is folded to Latin-1 first (``≥`` -> ``>=``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from inoplan import DISCLAIMER

__all__ = ["ORDER_CODE_VERSION", "handout_pdf", "order_code", "worksheet_pdf"]

_FOLD = str.maketrans(
    {
        "≥": ">=",
        "≤": "<=",
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "⁹": "^9",
        "•": "-",
        "…": "...",
        "→": "->",
        "\u00a0": " ",
    }
)


def _t(text: object) -> str:
    """Text the core fonts can print (Latin-1), without losing meaning."""
    return str(text).translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _duration(minutes: int) -> str:
    """``60`` -> ``1 hour``, ``90`` -> ``90 minutes``."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def _day(value: Any) -> str:
    if not value:
        return "-"
    the_day = date.fromisoformat(str(value)[:10])
    return the_day.strftime("%a %d %b %Y")


@functools.cache
def _next_line() -> dict[str, Any]:
    """multi_cell arguments: continue on the next line at the left margin."""
    from fpdf.enums import XPos, YPos

    return {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


class _Doc:
    """A thin wrapper over FPDF with the few layouts the two documents need."""

    def __init__(
        self, title: str, footer: str, *, identity: str = "", compact: bool = False
    ) -> None:
        from fpdf import FPDF

        footer_text = _t(footer)
        identity_text = _t(identity)

        class _Pdf(FPDF):
            def header(self) -> None:
                if not identity_text:
                    return
                self.set_font("Helvetica", "B", 8.5)
                self.set_text_color(0, 0, 0)
                self.multi_cell(0, 4, identity_text, border="B", **_next_line())
                self.ln(1.5)

            def footer(self) -> None:
                self.set_y(-14)
                self.set_font("Helvetica", "", 7)
                self.multi_cell(0, 3.2, footer_text + f"   Page {self.page_no()}/{{nb}}", align="C")

        self.pdf = _Pdf(format="A4")
        self.pdf.set_title(_t(title))
        self.pdf.set_author("inoplan")
        self.pdf.set_creator("inoplan web UI")
        self.pdf.set_auto_page_break(auto=True, margin=15 if compact else 18)
        self.pdf.set_margins(14 if compact else 16, 11 if compact else 14, 14 if compact else 16)
        self.row_height = 4.4 if compact else 5.4
        self.head_height = 5.6 if compact else 6.5
        self.size = 9.0 if compact else 10.0
        self.pdf.add_page()

    def using(self, pdf: Any) -> _Doc:
        """The same helpers writing through ``pdf`` (fpdf2's ``unbreakable()`` proxy)."""
        twin = object.__new__(_Doc)
        twin.pdf = pdf
        twin.row_height, twin.head_height, twin.size = (
            self.row_height,
            self.head_height,
            self.size,
        )
        return twin

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def title(self, text: str, size: int = 15) -> None:
        self.pdf.set_font("Helvetica", "B", size)
        self.pdf.multi_cell(0, size * 0.5, _t(text), **_next_line())
        self.pdf.ln(1)

    def heading(self, text: str, size: float | None = None) -> None:
        size = size or self.size + 1.5
        self.pdf.ln(1.5 if self.size < 10 else 2)
        self.pdf.set_font("Helvetica", "B", size)
        self.pdf.set_fill_color(232, 236, 242)
        self.pdf.multi_cell(0, self.head_height, _t(text), fill=True, **_next_line())
        self.pdf.ln(1)

    def text(self, text: str, size: float = 10, bold: bool = False, height: float = 5) -> None:
        self.pdf.set_font("Helvetica", "B" if bold else "", size)
        self.pdf.multi_cell(0, height, _t(text), **_next_line())

    def bullets(self, items: Sequence[str], size: float = 10, height: float = 5.2) -> None:
        self.pdf.set_font("Helvetica", "", size)
        for item in items:
            self.pdf.set_x(self.pdf.l_margin)
            self.pdf.cell(5, height, "-")
            self.pdf.multi_cell(self.width - 5, height, _t(item), **_next_line())

    def rows(
        self, rows: Sequence[tuple[str, str]], key_width: float = 52, size: float | None = None
    ) -> None:
        size = size or self.size
        for key, value in rows:
            self.pdf.set_font("Helvetica", "B", size)
            y = self.pdf.get_y()
            self.pdf.multi_cell(key_width, self.row_height, _t(key), border="B")
            y_key = self.pdf.get_y()
            self.pdf.set_xy(self.pdf.l_margin + key_width, y)
            self.pdf.set_font("Helvetica", "", size)
            self.pdf.multi_cell(self.width - key_width, self.row_height, _t(value), border="B")
            self.pdf.set_y(max(y_key, self.pdf.get_y()))

    def table(
        self,
        header: Sequence[str],
        body: Sequence[Sequence[str]],
        widths: Sequence[float],
        size: float = 10,
    ) -> None:
        self.pdf.set_font("Helvetica", "B", size)
        for title, w in zip(header, widths, strict=True):
            self.pdf.cell(w, 6.5, _t(title), border=1)
        self.pdf.ln()
        self.pdf.set_font("Helvetica", "", size)
        for row in body:
            for cell, w in zip(row, widths, strict=True):
                self.pdf.cell(w, 6.5, _t(cell), border=1)
            self.pdf.ln()

    def box(self, text: str, *, red: bool = False, size: float = 11) -> None:
        self.pdf.set_font("Helvetica", "B", size)
        if red:
            self.pdf.set_fill_color(253, 224, 224)
        else:
            self.pdf.set_fill_color(227, 244, 232)
        self.pdf.multi_cell(0, 6.5, _t(text), border=1, fill=True, **_next_line())
        self.pdf.ln(1)

    def signature(self, role: str) -> None:
        self.pdf.set_font("Helvetica", "", 10)
        self.pdf.ln(3)
        line = "_" * 26
        self.pdf.cell(0, 6, _t(f"{role}: name {line}  signature {'_' * 18}  date/time {'_' * 12}"))
        self.pdf.ln(6)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


# -- worksheet -------------------------------------------------------------------------------

#: The order code on the bag label: ``INOPLAN-ORDER/1|...``; a new layout gets a new number.
ORDER_CODE_VERSION = 1
_BLANK = "________"


def identity_line(patient: Mapping[str, Any]) -> str:
    """The two patient identifiers (name, birth date) and the record number, for every page.

    >>> identity_line({"id": "MRN-1", "birth_date": "1971-03-14"})
    'Patient: NAME NOT RECORDED - born 14 Mar 1971 - MRN MRN-1'
    """
    name = patient.get("name") or "NAME NOT RECORDED"
    born = date.fromisoformat(str(patient["birth_date"])[:10]).strftime("%d %b %Y")
    return f"Patient: {name} - born {born} - MRN {patient['id']}"


def _born(patient: Mapping[str, Any]) -> str:
    return date.fromisoformat(str(patient["birth_date"])[:10]).strftime("%d %b %Y")


def _allergies(patient: Mapping[str, Any]) -> str:
    allergies = [str(a) for a in patient.get("allergies") or []]
    return ", ".join(allergies) if allergies else "none recorded"


def order_code(view: Mapping[str, Any]) -> str:
    """The text of the bag label's QR code: what the bag holds and for whom (no name: the
    record number and birth date identify the patient at the bedside scan).

    >>> code = order_code({"course_id": 7, "on": date(2026, 12, 8),
    ...     "patient": {"id": "MRN-1", "birth_date": "1971-03-14"},
    ...     "next_dose": {"cycle": 1, "day": 8},
    ...     "preparation": {"dose_mg": 0.91, "final_volume_ml": 50, "diluent": "0.9% NaCl"}})
    >>> code.split("|")[:6]
    ['INOPLAN-ORDER/1', 'MRN=MRN-1', 'DOB=1971-03-14', 'COURSE=7', 'C1D8', 'DATE=2026-12-08']
    >>> code.split("|")[6:]
    ['DRUG=inotuzumab ozogamicin', 'DOSE=0.91 mg', 'VOLUME=50 mL', 'DILUENT=0.9% NaCl']
    """
    prep = view["preparation"]
    dose = view["next_dose"]
    patient = view["patient"]
    return "|".join(
        (
            f"INOPLAN-ORDER/{ORDER_CODE_VERSION}",
            f"MRN={patient['id']}",
            f"DOB={str(patient['birth_date'])[:10]}",
            f"COURSE={view['course_id']}",
            f"C{dose['cycle']}D{dose['day']}",
            f"DATE={view['on'].isoformat()}",
            "DRUG=inotuzumab ozogamicin",
            f"DOSE={_num(prep['dose_mg'])} mg",
            f"VOLUME={_num(prep['final_volume_ml'])} mL",
            f"DILUENT={prep['diluent']}",
        )
    )


def _qr_png(payload: str) -> bytes:
    """The QR code of ``payload`` as a PNG (black modules, 4-module quiet zone)."""
    import io

    import segno

    code = segno.make(payload, error="m", micro=False, boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()


def _product(view: Mapping[str, Any]) -> Mapping[str, Any]:
    return view.get("product") or {}


def _times(prep: Mapping[str, Any], label: Any) -> list[tuple[str, str]]:
    """Reconstitution time and the beyond-use times (label: 4 h to dilution, 8 h to the end of
    the infusion), as clock times when the reconstitution time is known, else blanks."""
    hours_dilute = _num(float(label.preparation.reconstitution_to_dilution_max_hours))
    hours_end = _num(float(label.preparation.reconstitution_to_end_of_infusion_max_hours))
    deadlines = prep.get("deadlines")
    if deadlines:
        return [
            ("Reconstituted at", deadlines["reconstituted_at"]),
            (f"Dilute by (+{hours_dilute} h)", deadlines["dilute_by"]),
            ("Start infusion by", deadlines["start_infusion_by"]),
            (f"Infusion ends by (+{hours_end} h)", f"{deadlines['infusion_end_by']} (beyond-use)"),
        ]
    return [
        ("Reconstituted at", "____:____ (date ______)"),
        (f"Dilute by (+{hours_dilute} h)", "____:____"),
        (f"Infusion ends by (+{hours_end} h)", "____:____ (beyond-use)"),
    ]


def worksheet_pdf(view: Mapping[str, Any], *, generated_by: str, generated_at: datetime) -> bytes:
    """The preparation worksheet for the decision's next dose, with the bag label.

    Page 1: the two identifiers and allergies, the decision, the dose, reconstitution,
    dilution, the product (lot, expiry) and beyond-use times, and the signatures of the
    preparer and the independent second checker, kept together on one page. Then the bag
    label (with the order's QR code), handling, storage, reminders, alerts and sources.

    For a held or stopped dose (or one the cycle maximum does not allow) it prints no
    preparation numbers: only the dose it concerns and why it is not to be prepared.
    """
    if view.get("preparation") is None:
        return _no_preparation_pdf(view, generated_by=generated_by, generated_at=generated_at)
    from inoplan.knowledge.loader import load_label

    prep = view["preparation"]
    dose = view["next_dose"]
    body = view["body"]
    patient = view["patient"]
    decision = view["decision"]
    product = _product(view)
    label = load_label(prep["label_revision"])
    status = str(decision.get("status"))
    doc = _Doc(
        "Preparation worksheet - inotuzumab ozogamicin",
        f"Course {view['course_id']}, cycle {dose['cycle']} day {dose['day']}. inoplan - "
        f"{DISCLAIMER} Generated {generated_at:%Y-%m-%d %H:%M} UTC by {generated_by}; "
        f"label {prep['label_revision']}, engine {prep['engine_version']}.",
        identity=identity_line(patient),
        compact=True,
    )
    doc.title("Preparation worksheet: inotuzumab ozogamicin (BESPONSA)", size=13)
    doc.rows(
        [
            ("Patient", f"{patient.get('name') or 'name not recorded'} (MRN {patient['id']})"),
            ("Born / sex", f"{_born(patient)} / {patient['sex']}"),
            ("Allergies", _allergies(patient)),
            (
                "Dose",
                f"course {view['course_id']}, cycle {dose['cycle']} day {dose['day']}, "
                f"decision for {_day(view['on'])}",
            ),
        ],
        key_width=34,
    )
    doc.pdf.ln(1.5)
    if status == "give":
        doc.box(
            f"Decision: {view['status_text']} - cycle {dose['cycle']} day {dose['day']}. "
            "A qualified clinician confirms before preparation.",
            size=10,
        )
    else:
        doc.box(
            f"Decision: {view['status_text'].upper()} - do not prepare until a qualified "
            f"clinician has confirmed the dose. Reason: "
            + "; ".join(r.get("message", "") for r in decision.get("reasons", [])[:2]),
            red=True,
            size=10,
        )
    low, high = prep["concentration_range_mg_per_ml"]
    lot = product.get("lot") or _BLANK * 2
    expiry = product.get("expiry") or _BLANK

    # the doses and the signatures: one block, never split across pages
    def dose_block(sheet: _Doc) -> None:
        sheet.heading("Dose")
        sheet.rows(
            [
                (
                    "Scheduled",
                    f"{_day(dose['scheduled'])} (window {_day(dose.get('earliest'))} to "
                    f"{_day(dose.get('latest')) if dose.get('latest') else 'open'})",
                ),
                (
                    "Height / weight",
                    f"{_num(body['height_cm'])} cm ({body.get('height_date') or '-'})"
                    f" / {_num(body['weight_kg'])} kg ({body.get('weight_date') or '-'})",
                ),
                ("BSA", f"{_num(prep['bsa_m2'])} m2 ({prep['bsa_formula']} formula)"),
                (
                    "Prescribed dose",
                    f"{_num(prep['dose_mg_per_m2'])} mg/m2 "
                    f"(maximum {_num(prep['max_mg_per_m2_per_dose'])} mg/m2 per dose, "
                    f"{prep['limits_citation']['citation']})",
                ),
                (
                    "Dose in mg",
                    f"{_num(prep['dose_mg'])} mg "
                    f"= {_num(prep['dose_mg_per_m2'])} mg/m2 x {_num(prep['bsa_m2'])} m2",
                ),
                ("Rounding", prep["rounding"]),
            ]
        )
        sheet.heading("Reconstitution")
        sheet.rows(
            [
                ("Vials", f"{prep['vials']} x {prep['vial_name']}"),
                (
                    "Reconstitute each vial",
                    f"with {_num(prep['reconstitution_ml_per_vial'])} mL "
                    f"{label.preparation.reconstitution_diluent} -> "
                    f"{_num(prep['reconstituted_mg_per_ml'])} mg/mL",
                ),
                (
                    "Withdraw",
                    f"{_num(prep['withdraw_ml'])} mL of reconstituted solution "
                    f"({_num(prep['dose_mg'])} mg)",
                ),
                ("Discard", f"{_num(prep['waste_mg'])} mg left in the vials"),
            ]
        )
        sheet.heading("Dilution and infusion")
        sheet.rows(
            [
                ("Diluent", f"{_num(prep['diluent_ml'])} mL {prep['diluent']}"),
                (
                    "Final volume",
                    f"{_num(prep['final_volume_ml'])} mL"
                    + (" (reduced volume)" if prep.get("reduced_final_volume") else ""),
                ),
                (
                    "Final concentration",
                    f"{_num(prep['concentration_mg_per_ml'])} mg/mL "
                    f"(range {_num(low)}-{_num(high)} mg/mL)",
                ),
                (
                    "Infusion",
                    f"{_num(prep['infusion_rate_ml_per_h'])} mL/h over "
                    f"{prep['infusion_minutes']} minutes, "
                    f"{label.preparation.infusion_temperature}",
                ),
            ]
        )
        sheet.heading(f"Product and beyond-use times ({label.preparation.timing_citation.text})")
        sheet.rows(
            [
                ("Vial lot number(s)", str(lot)),
                ("Vial expiry date", str(expiry)),
                *_times(prep, label),
            ]
        )
        sheet.text(
            "Reconstituted solution: " + label.storage.reconstituted + " Diluted solution: "
            f"{label.storage.diluted} ({label.storage.citation.text})",
            size=8,
            height=3.6,
        )
        sheet.heading("Signatures (independent double check)")
        sheet.signature("Prepared by")
        sheet.signature("Checked by ")
        sheet.text(
            "The checker verifies patient, drug, dose, volume, lot and expiry independently.",
            size=8,
            height=3.6,
        )

    _together(doc, dose_block)

    _bag_label(doc, view, label)

    doc.heading("Handling")
    doc.rows(
        [
            ("Handling", label.preparation.handling),
            ("Bag", label.preparation.bag_materials),
            ("Filter", label.preparation.filter_note),
        ]
    )
    doc.heading(f"Storage and light protection ({label.storage.citation.text})")
    doc.bullets(
        [
            f"Unopened vials: {label.storage.unopened}",
            f"Reconstituted solution: {label.storage.reconstituted}",
            f"Diluted solution: {label.storage.diluted}",
            "Protect reconstituted and diluted solutions from light.",
        ],
        size=9,
        height=4.0,
    )

    doc.heading("Before and after the infusion")
    premedication = label.alert("PREMEDICATION")
    observation = label.alert("OBSERVATION")
    doc.bullets(
        [
            f"Premedication: {premedication.message} ({premedication.citation.text})",
            f"Observation: {observation.message} ({observation.citation.text})",
        ],
        size=9,
        height=4.0,
    )
    critical = [
        a for a in decision.get("alerts", []) if a.get("severity") in ("critical", "warning")
    ]
    if critical:
        doc.text("Alerts of this decision:", size=9, bold=True)
        doc.bullets(
            [
                f"{a['severity'].upper()} {_alert(a['code'])}: {a['message']} "
                f"({a.get('citation', '')})"
                for a in critical
            ],
            size=9,
            height=4.0,
        )
    notes = prep.get("notes") or []
    if notes:
        doc.text("Notes:", size=9, bold=True)
        doc.bullets(notes, size=8, height=3.6)
    citations = sorted({c["citation"] for c in prep.get("preparation_citations", [])})
    doc.text("Sources: " + ", ".join(citations), size=8.5)
    return doc.output()


def _alert(code: str) -> str:
    from inoplan.web.messages import alert_title

    return alert_title(code)


def _bag_label(doc: _Doc, view: Mapping[str, Any], label: Any) -> None:
    """A bag label to cut out: drug, dose, volume, patient, times, lot, and the order's QR."""
    import io

    prep = view["preparation"]
    dose = view["next_dose"]
    patient = view["patient"]
    product = _product(view)
    width, height, qr_size = 120.0, 78.0, 34.0

    def draw(sheet: _Doc) -> None:
        block = sheet.pdf
        block.ln(3)
        block.set_font("Helvetica", "", 7)
        block.cell(0, 3.5, _t("Bag label: cut along the border"), **_next_line())
        x, y = block.l_margin, block.get_y()
        block.set_line_width(0.5)
        block.set_dash_pattern(dash=1.5, gap=1)
        block.rect(x, y, width, height)
        block.set_dash_pattern()
        block.set_line_width(0.2)
        block.image(io.BytesIO(_qr_png(order_code(view))), x + width - qr_size - 2, y + 2, qr_size)
        text_width = width - qr_size - 6
        block.set_xy(x + 2, y + 2)
        block.set_font("Helvetica", "B", 10)
        block.multi_cell(text_width, 4.6, _t("INOTUZUMAB OZOGAMICIN (Besponsa)"), **_next_line())
        block.set_x(x + 2)
        block.set_font("Helvetica", "B", 12)
        block.multi_cell(
            text_width,
            5.4,
            _t(f"{_num(prep['dose_mg'])} mg in {_num(prep['final_volume_ml'])} mL"),
            **_next_line(),
        )
        lines = [
            (f"{prep['diluent']}, {_num(prep['concentration_mg_per_ml'])} mg/mL", False),
            (
                f"IV over {prep['infusion_minutes']} min at "
                f"{_num(prep['infusion_rate_ml_per_h'])} mL/h",
                False,
            ),
            (str(patient.get("name") or "Name not recorded"), True),
            (f"Born {_born(patient)} - MRN {patient['id']}", True),
            (
                f"Course {view['course_id']}, cycle {dose['cycle']} day {dose['day']}, "
                f"{_day(view['on'])}",
                False,
            ),
        ]
        for text, bold in lines:
            block.set_x(x + 2)
            block.set_font("Helvetica", "B" if bold else "", 8.5)
            block.multi_cell(text_width, 3.9, _t(text), **_next_line())
        deadlines = prep.get("deadlines") or {}
        hours_end = _num(float(label.preparation.reconstitution_to_end_of_infusion_max_hours))
        rows = [
            f"Reconstituted {deadlines.get('reconstituted_at') or '____:____'}",
            f"Use by {deadlines.get('infusion_end_by') or '____:____'} "
            f"(infusion ends within {hours_end} h of reconstitution)",
            f"Lot {product.get('lot') or _BLANK}  Exp {product.get('expiry') or _BLANK}",
            "Protect from light. Do not shake.",
            f"Prepared {product.get('prepared_by') or '______'}  "
            f"Checked {product.get('checked_by') or '______'}",
        ]
        block.set_xy(x + 2, max(block.get_y(), y + qr_size + 4) + 0.5)
        for text in rows:
            block.set_x(x + 2)
            block.set_font("Helvetica", "", 8)
            block.multi_cell(width - 4, 3.7, _t(text), **_next_line())
        block.set_xy(x + 2, y + height - 6.4)
        block.set_font("Helvetica", "", 6)
        block.multi_cell(width - 4, 2.8, _t(DISCLAIMER), **_next_line())
        block.set_xy(x, y + height + 2)

    _together(doc, draw)


def _together(doc: _Doc, draw: Any) -> None:
    """Draw a block on one page: on a fresh page if it would not fit on this one."""
    with doc.pdf.offset_rendering() as trial:
        draw(doc.using(trial))
    if trial.page_break_triggered:
        doc.pdf.add_page()
    draw(doc)


def _no_preparation_pdf(
    view: Mapping[str, Any], *, generated_by: str, generated_at: datetime
) -> bytes:
    """The worksheet of a dose not to be prepared: what, and why; no preparation numbers."""
    dose = view["next_dose"]
    patient = view["patient"]
    decision = view["decision"]
    doc = _Doc(
        "Preparation worksheet - inotuzumab ozogamicin",
        f"Course {view['course_id']}, cycle {dose['cycle']} day {dose['day']}. inoplan - "
        f"{DISCLAIMER} Generated {generated_at:%Y-%m-%d %H:%M} UTC by {generated_by}; "
        f"label {view.get('label_revision') or decision.get('label_revision')}, "
        f"engine {decision.get('engine_version', '')}.",
        identity=identity_line(patient),
        compact=True,
    )
    doc.title("Preparation worksheet: inotuzumab ozogamicin (BESPONSA)", size=13)
    doc.rows(
        [
            ("Patient", f"{patient.get('name') or 'name not recorded'} (MRN {patient['id']})"),
            ("Born / sex", f"{_born(patient)} / {patient['sex']}"),
            ("Allergies", _allergies(patient)),
            ("Dose", f"course {view['course_id']}, decision for {_day(view['on'])}"),
        ],
        key_width=34,
    )
    doc.pdf.ln(2)
    doc.box(
        f"Decision: {view['status_text'].upper()} - do not prepare. Cycle {dose['cycle']} day "
        f"{dose['day']} (scheduled {dose['scheduled']}) is not to be given now, so no "
        "preparation numbers are printed.",
        red=True,
    )
    doc.heading("Why")
    doc.text(view.get("no_preparation_reason") or "See the decision's reasons.", size=10)
    critical = [
        a for a in decision.get("alerts", []) if a.get("severity") in ("critical", "warning")
    ]
    if critical:
        doc.heading("Alerts of this decision")
        doc.bullets(
            [
                f"{a['severity'].upper()} {_alert(a['code'])}: {a['message']} "
                f"({a.get('citation', '')})"
                for a in critical
            ],
            size=9,
            height=4.0,
        )
    doc.text(
        "Print the worksheet again once a qualified clinician has decided that the dose is to "
        "be given; the numbers are then computed for that decision.",
        size=9,
    )
    return doc.output()


# -- handout ---------------------------------------------------------------------------------


def handout_pdf(view: Mapping[str, Any]) -> bytes:
    """The patient handout: plain words, short sentences, large type."""
    patient = view["patient"]
    key_dates = view["key_dates"]
    observation = _num(float(view["observation_hours"]))
    weeks = int(view["vod_watch_days"]) // 7
    doc = _Doc(
        "Your inotuzumab ozogamicin treatment",
        f"inoplan - information for patient {patient['id']}. {DISCLAIMER}",
        identity=identity_line(patient),
    )
    doc.title("Your treatment with inotuzumab ozogamicin (Besponsa)", size=16)
    doc.text(
        "This sheet is for you and your family. It tells you when to come in, "
        "what we check, and when to call us. Keep it with you.",
        size=12,
        height=6,
    )

    doc.heading("Your appointments", size=13)
    appointments = view["appointments"]
    if appointments:
        rows = []
        for dose in appointments:
            note = "the date may move"
            if dose["day"] != 1:
                note = f"we may move it up to {view['window_days']} days"
            if dose["status"] == "held":
                note = "on hold: we will call you"
            rows.append(
                (_day(dose["scheduled"]), f"Cycle {dose['cycle']}, day {dose['day']}", note)
            )
        doc.table(["Date", "Visit", "Note"], rows, [50, 50, doc.width - 100], size=11)
        if any(d.get("provisional") for d in appointments):
            doc.text("Later dates may change. They depend on how you respond.", size=11, height=6)
    else:
        doc.text("You have no more planned visits for this medicine.", size=12, height=6)
    doc.text(
        "Each visit starts with a blood test. Then you get medicines to stop a reaction. "
        f"The drip takes about {_duration(int(view['infusion_minutes']))}. "
        f"We watch you for at least {observation} hour after it.",
        size=12,
        height=6,
    )

    doc.heading("Why we test your liver", size=13)
    doc.text(
        "This medicine can harm the liver. In a few people, small blood vessels in the liver "
        "get blocked. Doctors call this VOD. It can be very serious. Blood tests can show it "
        "early. That is why we test your blood before each dose and weigh you often. "
        f"The risk lasts for about {weeks} weeks after the last dose, and after a stem cell "
        "transplant.",
        size=12,
        height=6,
    )

    doc.heading("Call us at once if you have any of these", size=13)
    doc.text("Signs of a liver problem (VOD):", size=12, bold=True, height=6)
    doc.bullets(
        [
            f"You gain weight fast: more than {_num(float(view['weight_gain_percent']))} kg "
            "for every 100 kg you weigh (or your clothes feel tight)",
            "Your belly swells, or hurts on the right side under the ribs",
            "Your skin or the whites of your eyes turn yellow",
            "Your pee is dark",
        ],
        size=12,
        height=6,
    )
    doc.text(
        "Signs of a reaction to the drip (during it or soon after):", size=12, bold=True, height=6
    )
    doc.bullets(
        [
            "Fever, chills or shaking",
            "A rash or itching",
            "It is hard to breathe",
            "You feel faint or dizzy",
        ],
        size=12,
        height=6,
    )
    doc.text("Signs of bleeding:", size=12, bold=True, height=6)
    doc.bullets(
        [
            "A nosebleed that does not stop",
            "Bleeding gums",
            "Bruises you cannot explain",
            "Blood in your pee, or black poo",
            "A very bad headache",
        ],
        size=12,
        height=6,
    )
    doc.text("Signs of an infection:", size=12, bold=True, height=6)
    doc.bullets(
        [
            "A temperature of 38 C or more",
            "Chills or shaking",
            "A cough or a sore throat",
            "It burns when you pee",
        ],
        size=12,
        height=6,
    )

    doc.heading("Tell us about all your other medicines", size=13)
    doc.text(
        "Some medicines can change the rhythm of your heart. So can this one. Tell us about "
        "every medicine you take. This includes medicines you buy in a shop and herbal "
        "products. Ask us before you start a new one. We may check your heart with an ECG.",
        size=12,
        height=6,
    )
    if view["medicines"]:
        doc.text(
            "Medicines on your record: " + ", ".join(view["medicines"]) + ".", size=12, height=6
        )

    doc.heading("Pregnancy and breastfeeding", size=13)
    pregnancy: list[str] = []
    if patient.get("reproductive_potential"):
        until = key_dates.get("contraception_until")
        if patient.get("sex") == "female":
            pregnancy.append("Do not get pregnant. This medicine can harm a baby.")
            pregnancy.append(
                "Use good birth control during treatment"
                + (
                    f" and until {_day(until)}."
                    if until
                    else f" and for {_num(view['contraception_female_months'])} months after "
                    "the last dose."
                )
            )
        else:
            pregnancy.append("Your partner must not get pregnant. This medicine can harm a baby.")
            pregnancy.append(
                "Use good birth control during treatment"
                + (
                    f" and until {_day(until)}."
                    if until
                    else f" and for {_num(view['contraception_male_months'])} months after "
                    "the last dose."
                )
            )
    if patient.get("sex") == "female":
        until = key_dates.get("no_breastfeeding_until")
        pregnancy.append(
            "Do not breastfeed during treatment"
            + (
                f" or until {_day(until)}."
                if until
                else f" or for {_num(view['no_breastfeeding_months'])} months after the last dose."
            )
        )
    if key_dates.get("provisional") and pregnancy:
        pregnancy.append("These dates move later with each new dose. We will tell you.")
    if not pregnancy:
        pregnancy.append("Ask us if you have questions about pregnancy or breastfeeding.")
    doc.bullets(pregnancy, size=12, height=6)

    doc.heading("If you miss a visit", size=13)
    doc.text(
        "Call us on the same day. Do not wait for the next visit. Do not try to make up a dose "
        "yourself. We will find a new date with you.",
        size=12,
        height=6,
    )
    _contacts(doc, view.get("clinic"))
    doc.pdf.ln(2)
    doc.text(
        "If you feel very unwell and cannot reach us, call an ambulance or go to the nearest "
        "emergency department. Show them this sheet.",
        size=12,
        height=6,
        bold=True,
    )
    return doc.output()


def _contacts(doc: _Doc, clinic: Any) -> None:
    """Who to call: the site policy's ``[clinic]`` numbers and named contacts, and what to do
    about each one that is not configured (never a blank line to fill in)."""
    doc.pdf.ln(2)
    doc.heading("Who to call", size=13)
    day_phone = getattr(clinic, "phone_day", "") if clinic is not None else ""
    night_phone = getattr(clinic, "phone_out_of_hours", "") if clinic is not None else ""
    contacts = getattr(clinic, "contacts", ()) if clinic is not None else ()
    name = getattr(clinic, "name", "") if clinic is not None else ""
    lines: list[str] = []
    if name:
        lines.append(f"Your clinic: {name}.")
    if day_phone:
        lines.append(f"Clinic phone (day): {day_phone}")
    if night_phone:
        lines.append(f"Phone at night and at weekends: {night_phone}")
    if not (day_phone or night_phone):
        lines.append(
            "Ask us for the phone numbers to call, by day and at night. Keep them with this sheet."
        )
    elif not night_phone:
        lines.append("At night and at weekends: ask us which number to call.")
    elif not day_phone:
        lines.append("In the day: ask us which number to call.")
    for line in lines:
        doc.text(line, size=12, height=7, bold=line.startswith(("Clinic phone", "Phone at")))
    if contacts:
        doc.text("Your nurse or doctor:", size=12, bold=True, height=7)
        doc.bullets(
            [", ".join(part for part in (c.name, c.role, c.phone) if part) for c in contacts],
            size=12,
            height=6,
        )
    else:
        doc.text("Ask us who your nurse and doctor are.", size=12, height=7)
