"""Code systems, codes and units used on the FHIR side (data only, no I/O).

Status of each code (see docs/ehr-integration.md section 5, "Codes used"):
confirmed = seen in an HL7 standard, IG or official example; secondary = seen only in
third-party material: verify against the terminology owner before production use.

This material contains content from LOINC (http://loinc.org). LOINC is copyright (c)
Regenstrief Institute, Inc. and the LOINC Committee and is available at no cost under the
license at http://loinc.org/license. RxNorm codes come from the U.S. National Library of
Medicine; see docs/ehr-integration.md for the attribution notices.
"""

from __future__ import annotations

from typing import Final

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC: Final = "http://www.whocc.no/atc"
SNOMED: Final = "http://snomed.info/sct"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
DOSE_RATE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
DAYS_OF_CYCLE: Final = "http://hl7.org/fhir/StructureDefinition/timing-daysOfCycle"

# inoplan's own canonical base for the few things no standard code covers.
INOPLAN: Final = "https://inoplan.org/fhir"
EXT: Final = INOPLAN + "/StructureDefinition/"
CS: Final = INOPLAN + "/CodeSystem/"
EVENT_ID_SYSTEM: Final = INOPLAN + "/event-id"
COURSE_ID_SYSTEM: Final = INOPLAN + "/course-id"

# -- the drug ---------------------------------------------------------------------------------
#: RxNorm (secondary: NMDP/CIBMTR value set; verify with RxNav): IN, strengths, SCD, BN, SBD.
RXNORM_INOTUZUMAB: Final = frozenset(
    {
        "1942950",
        "1942951",
        "1942952",
        "1942953",
        "1942954",
        "1942955",
        "1942956",
        "1942957",
        "1942958",
        "1942959",
    }
)
RXNORM_INGREDIENT: Final = "1942950"
RXNORM_SCD: Final = "1942954"  # inotuzumab ozogamicin 0.9 MG Injection
ATC_INOTUZUMAB: Final = frozenset({"L01FB01", "L01XC26"})  # L01XC26 before the 2022 revision
DRUG_TEXT: Final = ("inotuzumab", "besponsa")

DRUG_CODING: Final = (
    {"system": RXNORM, "code": RXNORM_INGREDIENT, "display": "inotuzumab ozogamicin"},
    {"system": ATC, "code": "L01FB01", "display": "inotuzumab ozogamicin"},
)
ROUTE_IV: Final = {"system": SNOMED, "code": "47625008", "display": "Intravenous route"}

# -- observations (LOINC) ---------------------------------------------------------------------
WEIGHT: Final = ("29463-7", "3141-9")
HEIGHT: Final = ("8302-2", "8306-3")
#: analyte of the course document -> LOINC codes accepted (first = the one the export writes).
ANALYTE_LOINC: Final[dict[str, tuple[str, ...]]] = {
    "anc": ("751-8", "753-4", "26499-4"),
    "platelets": ("777-3", "26515-7"),
    "wbc": ("6690-2", "26464-8"),
    "bilirubin": ("1975-2", "14631-6"),
    "ast": ("1920-8",),
    "alt": ("1742-6",),
    "peripheral_blasts": ("30376-8",),  # secondary: Blasts [#/volume] in Blood
    "potassium": ("2823-3", "6298-4"),  # secondary
    "magnesium": ("2601-3",),  # secondary
}
LOINC_ANALYTE: Final[dict[str, str]] = {
    code: analyte for analyte, codes in ANALYTE_LOINC.items() for code in codes
}
QTC: Final = ("8636-3", "76634-5")  # secondary: QTc; Fridericia
PREGNANCY_TEST: Final = ("2118-8", "2106-3", "82810-3")  # hCG serum/urine (secondary), status
ANALYTE_DISPLAY: Final[dict[str, str]] = {
    "anc": "Neutrophils [#/volume] in Blood by Automated count",
    "platelets": "Platelets [#/volume] in Blood by Automated count",
    "wbc": "Leukocytes [#/volume] in Blood by Automated count",
    "bilirubin": "Bilirubin.total [Mass/volume] in Serum or Plasma",
    "ast": "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    "alt": "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
    "peripheral_blasts": "Blasts [#/volume] in Blood",
    "potassium": "Potassium [Moles/volume] in Serum or Plasma",
    "magnesium": "Magnesium [Moles/volume] in Serum or Plasma",
}

# -- conditions and findings (SNOMED CT written only where the code is confirmed) ---------------
SNOMED_VOD: Final = "65617004"
ICD10_VOD: Final = "K76.5"  # unconfirmed; only recognised on import
SNOMED_HSCT: Final = "234336002"  # secondary; only recognised on import, never written
HSCT_TEXT: Final = (
    "stem cell transplant",
    "hsct",
    "bone marrow transplant",
    "hematopoietic cell transplant",
)
#: B-cell acute lymphoblastic leukemia (disorder): confirmed (mCODE pediatric ALL example).
SNOMED_B_ALL: Final = "277571004"
SNOMED_PREGNANT: Final = "77386006"
SNOMED_NOT_PREGNANT: Final = "60001007"
SNOMED_POSITIVE: Final = "10828004"
SNOMED_NEGATIVE: Final = "260385009"
NO_KNOWN_ALLERGY: Final = frozenset({"716186003", "409137002", "428607008", "429625007"})
SEVERITY_GRADE: Final[dict[str, int]] = {"255604002": 1, "6736007": 2, "24484000": 3}

# -- units -------------------------------------------------------------------------------------
#: Lab units accepted as UCUM *codes* on the wire (FHIR ``Quantity.system`` = UCUM, HL7 OBX-6 with
#: coding system ``UCUM``), case-sensitive as UCUM is -> the course document's unit. Only codes
#: that are valid UCUM *and* mean what the course document means are here: ``K/uL`` is valid UCUM
#: syntax but means kelvin per microlitre, and ``x10*9/L``, ``cells/uL`` and ``IU/L`` are not UCUM,
#: so none of them is accepted as a code (their spellings may still arrive as unit *text*, below).
#: UCUM writes exponents as trailing digits (``mm3``) and has both ``10*`` and ``10^`` as the
#: number ten for powers; ``L`` and ``l`` are both the litre; ``{cells}`` is an annotation.
UCUM_LAB_UNITS: Final[dict[str, str]] = {
    "10*9/L": "10*9/L",
    "10*9/l": "10*9/L",
    "10^9/L": "10*9/L",
    "10^9/l": "10*9/L",
    "10*3/uL": "10*3/uL",
    "10*3/ul": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "10^3/ul": "10*3/uL",
    "/uL": "/uL",
    "/ul": "/uL",
    "{cells}/uL": "/uL",
    "{cells}/ul": "/uL",
    "/mm3": "/mm3",
    "{cells}/mm3": "/mm3",
    "mg/dL": "mg/dL",
    "mg/dl": "mg/dL",
    "umol/L": "umol/L",
    "umol/l": "umol/L",
    "U/L": "U/L",
    "U/l": "U/L",
    "[IU]/L": "IU/L",
    "[IU]/l": "IU/L",
    "mmol/L": "mmol/L",
    "mmol/l": "mmol/L",
    "%": "%",
}

#: THE one table of unit *text* as clinicians and laboratory systems write it (compared after
#: trimming, folding the micro sign and Greek mu to ``u``, ``×`` to ``x``, superscript digits to
#: digits and lower-casing) -> the UCUM code it means. Used only when a result carries no UCUM
#: code (FHIR ``Quantity.unit`` without a UCUM system, HL7 OBX-6 in ``ISO+``, a local system or
#: none). A spelling that is not here is refused with the accepted ones named, never guessed.
#: Every entry has its own test (tests/interop/test_units_wire.py).
UNIT_SPELLINGS: Final[dict[str, str]] = {
    # 10^9 per litre
    "10*9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "x10*9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "x 10^9/l": "10*9/L",
    "x10e9/l": "10*9/L",
    "10e9/l": "10*9/L",
    "x10(9)/l": "10*9/L",
    "gpt/l": "10*9/L",
    # 10^3 per microlitre (= 10^9 per litre)
    "10*3/ul": "10*3/uL",
    "10^3/ul": "10*3/uL",
    "x10*3/ul": "10*3/uL",
    "x10^3/ul": "10*3/uL",
    "x 10^3/ul": "10*3/uL",
    "x10e3/ul": "10*3/uL",
    "10e3/ul": "10*3/uL",
    "k/ul": "10*3/uL",
    "thou/ul": "10*3/uL",
    "thou/mm3": "10*3/uL",
    "k/mm3": "10*3/uL",
    "10*3/mm3": "10*3/uL",
    "10^3/mm3": "10*3/uL",
    # cells per microlitre (= per cubic millimetre)
    "/ul": "/uL",
    "cells/ul": "/uL",
    "{cells}/ul": "/uL",
    "/mm3": "/mm3",
    "cells/mm3": "/mm3",
    "/cmm": "/mm3",
    "cells/cmm": "/mm3",
    # bilirubin
    "mg/dl": "mg/dL",
    "umol/l": "umol/L",
    # enzymes
    "u/l": "U/L",
    "iu/l": "[IU]/L",
    "[iu]/l": "[IU]/L",
    # electrolytes
    "mmol/l": "mmol/L",
    # percentages (blasts)
    "%": "%",
}

#: The course document's lab units (docs/course-document.md) -> the UCUM code the export writes.
DOCUMENT_UNIT_UCUM: Final[dict[str, str]] = {
    "10*9/L": "10*9/L",
    "10^9/L": "10*9/L",
    "x10*9/L": "10*9/L",
    "10*3/uL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "K/uL": "10*3/uL",
    "/uL": "/uL",
    "cells/uL": "/uL",
    "/mm3": "/mm3",
    "cells/mm3": "/mm3",
    "mg/dL": "mg/dL",
    "umol/L": "umol/L",
    "U/L": "U/L",
    "IU/L": "[IU]/L",
    "mmol/L": "mmol/L",
    "%": "%",
}

#: Mass units -> factor to kg.
MASS_TO_KG: Final[dict[str, str]] = {
    "kg": "1",
    "g": "0.001",
    "[lb_av]": "0.45359237",
    "lb": "0.45359237",
    "lbs": "0.45359237",
}
#: Length units -> factor to cm.
LENGTH_TO_CM: Final[dict[str, str]] = {
    "cm": "1",
    "m": "100",
    "mm": "0.1",
    "[in_i]": "2.54",
    "in": "2.54",
}
