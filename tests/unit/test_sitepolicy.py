"""Reading a site policy file (sitepolicy.py): defaults, overrides, and errors naming the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from inoplan.domain.dosing import prepare_dose
from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput
from inoplan.knowledge import load_label
from inoplan.sitepolicy import load_site_policy

D = Decimal


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", [None, ""])
def test_no_file_means_the_defaults(path: str | None) -> None:
    assert load_site_policy(path) == SitePolicy()


def test_every_setting_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[rounding]\nbsa_step_m2 = 0.1\ndose_step_mg = 0.05\nmode = "down"\n'
        "[preparation]\nfinal_concentration_min_mg_per_ml = 0.02\n"
        "final_concentration_max_mg_per_ml = 0.08\n"
        "[freshness]\nlab_max_age_days = 2\nweight_max_age_days = 14\n"
        '[qt]\nextra_drugs = ["moxifloxacin", "amiodarone"]\n',
    )
    policy = load_site_policy(path)
    assert policy.rounding.bsa_step_m2 == D("0.1")
    assert policy.rounding.dose_step_mg == D("0.05")
    assert policy.rounding.mode == "down"
    assert policy.final_concentration_min_mg_per_ml == D("0.02")
    assert policy.final_concentration_max_mg_per_ml == D("0.08")
    assert policy.lab_max_age_days == 2
    assert policy.weight_max_age_days == 14
    assert policy.extra_qt_drugs == ("moxifloxacin", "amiodarone")
    assert policy.source == str(path)


def test_a_partial_file_keeps_the_other_defaults(tmp_path: Path) -> None:
    policy = load_site_policy(write(tmp_path, '[rounding]\nmode = "down"\n'))
    assert policy.rounding.bsa_step_m2 == D("0.01")
    assert policy.rounding.dose_step_mg == D("0.01")
    assert policy.final_concentration_min_mg_per_ml is None


def test_the_policy_reaches_the_preparation(tmp_path: Path) -> None:
    # minimum 0.02 mg/mL: 0.91 mg / 50 mL = 0.0182 < 0.02 -> 0.91 / 0.02 = 45.5 -> 45 mL
    policy = load_site_policy(
        write(tmp_path, "[preparation]\nfinal_concentration_min_mg_per_ml = 0.02\n")
    )
    assert prepare_dose(
        D("0.91"), "us-0.9mg", load_label("us"), policy=policy
    ).final_volume_ml == D(45)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[colour]\nred = 1\n", "site_policy.colour"),
        ("[rounding]\nstep = 0.1\n", "site_policy.rounding.step"),
        ("[freshness]\nlab_max_age = 3\n", "site_policy.freshness.lab_max_age"),
        ("rounding = 1\n", "site_policy.rounding"),
        ("[rounding\n", "site_policy"),
        ('[rounding]\nmode = "banker"\n', "rounding.mode"),
        ("[rounding]\ndose_step_mg = 0\n", "rounding.dose_step_mg"),
        ("[rounding]\nbsa_step_m2 = 2\n", "rounding.bsa_step_m2"),
    ],
)
def test_errors_name_the_setting(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        load_site_policy(write(tmp_path, text))
    assert err.value.field == field


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load_site_policy(tmp_path / "absent.toml")
    assert err.value.field == "site_policy"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        # a text where a number belongs is refused, never read as a number or crashed on
        ('[rounding]\nbsa_step_m2 = "abc"\n', "site_policy.rounding.bsa_step_m2"),
        ("[rounding]\ndose_step_mg = true\n", "site_policy.rounding.dose_step_mg"),
        ("[rounding]\nmode = 1\n", "site_policy.rounding.mode"),
        (
            '[preparation]\nfinal_concentration_min_mg_per_ml = "x"\n',
            "site_policy.preparation.final_concentration_min_mg_per_ml",
        ),
        # days are whole, non-negative numbers
        ('[freshness]\nlab_max_age_days = "3"\n', "site_policy.freshness.lab_max_age_days"),
        ("[freshness]\nlab_max_age_days = 2.5\n", "site_policy.freshness.lab_max_age_days"),
        ("[freshness]\nweight_max_age_days = -5\n", "site_policy.freshness.weight_max_age_days"),
        ("[freshness]\nweight_max_age_days = true\n", "site_policy.freshness.weight_max_age_days"),
        # a single drug name is not a list of names (it would become one name per letter)
        ('[qt]\nextra_drugs = "amiodarone"\n', "site_policy.qt.extra_drugs"),
        ('[qt]\nextra_drugs = ["amiodarone", 3]\n', "site_policy.qt.extra_drugs"),
    ],
)
def test_wrongly_typed_settings_are_refused_naming_the_setting(
    tmp_path: Path, text: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        load_site_policy(write(tmp_path, text))
    assert err.value.field == field


def test_zero_days_is_a_valid_freshness(tmp_path: Path) -> None:
    # 0 days: only labs from the dose day itself count
    assert (
        load_site_policy(write(tmp_path, "[freshness]\nlab_max_age_days = 0\n")).lab_max_age_days
        == 0
    )


def test_lab_reference_ranges_default_and_override(tmp_path: Path) -> None:
    """[labs.<analyte>]: the laboratory's unit and ULN (site data, prefilled on the web form)."""
    default = SitePolicy().lab_reference("bilirubin")
    assert default is not None and (default.unit, default.uln) == ("mg/dL", D("1.2"))
    path = write(
        tmp_path,
        '[labs.bilirubin]\nunit = "umol/L"\nuln = 21\n[labs.alt]\nuln = 33\n'
        '[labs.anc]\nunit = "/uL"\n',
    )
    policy = load_site_policy(path)
    bilirubin, alt, anc, ast = (policy.lab_reference(a) for a in ("bilirubin", "alt", "anc", "ast"))
    assert bilirubin is not None and (bilirubin.unit, bilirubin.uln) == ("umol/L", D(21))
    assert alt is not None and (alt.unit, alt.uln) == ("U/L", D(33))
    assert anc is not None and (anc.unit, anc.uln) == ("/uL", None)
    assert ast == SitePolicy().lab_reference("ast")  # untouched: the default


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[labs.bilirubin]\nunit = "g/L"\nuln = 2\n', "site_policy.labs.bilirubin.unit"),
        ('[labs.bilirubin]\nunit = "umol/L"\n', "site_policy.labs.bilirubin.uln"),
        ("[labs.ast]\nuln = 0\n", "site_policy.labs.ast.uln"),
        ('[labs.ast]\nuln = "40"\n', "site_policy.labs.ast.uln"),
        ("[labs.ast]\nlln = 4\n", "site_policy.labs.ast"),
        ("[labs.ldh]\nuln = 250\n", "site_policy.labs.ldh"),
    ],
)
def test_bad_lab_reference_is_refused_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_site_policy(write(tmp_path, text))
    assert caught.value.field == key
