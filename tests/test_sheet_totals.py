"""A totals row whose label stands in the ``sme_id`` column ("Jumlah" in column A, as many
office sheets have it) is skipped as a total, in profile and in follow-up files."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from api.services.outcome_files import read_outcome_file
from scoring.contract.sheets import TOTAL_ROW, non_data_rows


@pytest.mark.parametrize("label", ["Jumlah", "TOTAL", "Subtotal", "Sub-total", "jumlah"])
def test_a_total_label_in_the_id_column_is_a_total_row(label):
    frame = pd.DataFrame(
        {
            "sme_id": ["BDG-001", "BDG-002", label],
            "employees": ["12", "30", "42"],
            "annual_revenue_idr": ["1.000.000", "2.000.000", "3.000.000"],
        }
    )
    skip, skipped = non_data_rows(frame, np.array([2, 3, 4]))
    assert skip.tolist() == [False, False, True]
    assert [(s.row, s.reason) for s in skipped] == [(4, TOTAL_ROW)]


def test_ids_that_only_begin_like_a_total_are_kept():
    frame = pd.DataFrame({"sme_id": ["TOTAL-01", "Jumlah2"], "employees": ["3", "4"]})
    skip, skipped = non_data_rows(frame, np.array([2, 3]))
    assert skip.tolist() == [False, False] and skipped == []


def test_a_follow_up_sheet_with_a_totals_row_under_column_a():
    csv = (
        "Rekap tindak lanjut ekspor 2026\n\n"
        "sme_id;followup_date;exported;learned_via;contracts\n"
        "BDG-001;16/06/2026;Ya;Telepon;2\n"
        "BDG-002;16/06/2026;Tidak;Kunjungan;\n"
        "Jumlah;;;;2\n"
    )
    rows = read_outcome_file(
        io.BytesIO(csv.encode()), filename="rekap.csv", today=dt.date(2026, 12, 3), max_rows=100
    )
    assert [r["sme_id"] for r in rows.records] == ["BDG-001", "BDG-002"]
    assert rows.errors == []
    assert rows.skipped == [{"row": 6, "reason": TOTAL_ROW}]
