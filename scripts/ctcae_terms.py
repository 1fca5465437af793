"""Print the CTCAE v5.0 term list as ``knowledge/terms/ctcae-v5.0.tsv``.

Usage: ``python scripts/ctcae_terms.py CTCAE_v5.0_2017-11-27.xlsx > ctcae-v5.0.tsv``

Reads the NCI's spreadsheet (sheet "CTCAE v5.0 Clean Copy": MedDRA code, MedDRA SOC, CTCAE
term, grades, definition) with the standard library only (an .xlsx file is a zip of XML parts)
and prints one ``<MedDRA code> TAB <SOC key> TAB <CTCAE term>`` line per term (a header line
first). The SOC keys are those of ``[ctcae.soc]`` in ``knowledge/terms/vocabulary.toml``. The
curated part of the vocabulary (categories, synonyms, allergens) is written by hand, not
generated.
A maintenance tool: the product never reads the spreadsheet.
"""

from __future__ import annotations

import re
import sys
import zipfile
from xml.etree import ElementTree

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
SOC_KEYS = {
    "Blood and lymphatic system disorders": "blood",
    "Cardiac disorders": "cardiac",
    "Congenital, familial and genetic disorders": "congenital",
    "Ear and labyrinth disorders": "ear",
    "Endocrine disorders": "endocrine",
    "Eye disorders": "eye",
    "Gastrointestinal disorders": "gastrointestinal",
    "General disorders and administration site conditions": "general",
    "Hepatobiliary disorders": "hepatobiliary",
    "Immune system disorders": "immune",
    "Infections and infestations": "infections",
    "Injury, poisoning and procedural complications": "injury",
    "Investigations": "investigations",
    "Metabolism and nutrition disorders": "metabolism",
    "Musculoskeletal and connective tissue disorders": "musculoskeletal",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)": "neoplasms",
    "Nervous system disorders": "nervous",
    "Pregnancy, puerperium and perinatal conditions": "pregnancy",
    "Psychiatric disorders": "psychiatric",
    "Renal and urinary disorders": "renal",
    "Reproductive system and breast disorders": "reproductive",
    "Respiratory, thoracic and mediastinal disorders": "respiratory",
    "Skin and subcutaneous tissue disorders": "skin",
    "Social circumstances": "social",
    "Surgical and medical procedures": "surgical",
    "Vascular disorders": "vascular",
}


def _text(node: ElementTree.Element) -> str:
    return "".join(t.text or "" for t in node.iter(f"{NS}t"))


def rows(path: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as book:
        shared = [
            _text(si)
            for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).findall(f"{NS}si")
        ]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    out = []
    for row in sheet.iter(f"{NS}row"):
        cells: dict[str, str] = {}
        for cell in row.findall(f"{NS}c"):
            column = re.match(r"[A-Z]+", cell.attrib["r"])
            value = cell.find(f"{NS}v")
            if column is None:
                continue
            if value is not None and value.text is not None:
                text = shared[int(value.text)] if cell.attrib.get("t") == "s" else value.text
            else:
                inline = cell.find(f"{NS}is")
                text = _text(inline) if inline is not None else ""
            cells[column.group()] = text.strip()
        out.append(cells)
    return out


def main(path: str) -> None:
    table = rows(path)
    header, body = table[0], table[1:]
    if header.get("A") != "MedDRA Code" or header.get("C") != "CTCAE Term":
        raise SystemExit(f"unexpected header {header}")
    print("meddra_code\tsoc\tterm")
    for row in body:
        fields = (row["A"], SOC_KEYS[row["B"]], row["C"])
        if any("\t" in f or "\n" in f for f in fields):
            raise SystemExit(f"a tab or newline inside {fields}")
        print("\t".join(fields))
    print(f"# {len(body)} terms", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
