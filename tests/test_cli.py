"""The sme-export command line on real files: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli.common import EXIT_INPUT, EXIT_REJECTED_ROWS

DATA = Path(__file__).resolve().parent.parent / "data"
RULESET = Path(__file__).resolve().parent.parent / "scoring" / "rulesets" / "default.yaml"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_single_json_profile_prints_its_score(run):
    result = run("score", DATA / "example_profile.json")
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["sme_id"] == "BDG-2020-001"
    assert record["tier"] in {"ready", "near_ready", "developing", "not_ready"}
    assert "owner_name" not in result.stdout and "Eko Suryana" not in result.stdout


def test_invalid_json_profile_fails_with_every_field_named_on_one_line(run, tmp_path):
    profile = json.loads((DATA / "example_profile.json").read_text())
    profile.update(employees=-3, sector="space", colour="red")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(profile))
    result = run("score", path)
    assert result.exit_code == EXIT_INPUT
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {path}: 3 field error(s):")
    for field in ("employees", "sector", "colour"):
        assert field in line


def test_indonesian_csv_scores_every_row_like_the_xlsx(run, tmp_path):
    csv_out, xlsx_out = tmp_path / "a.csv", tmp_path / "b.csv"
    assert (
        run("score", DATA / "cohort_bandung_2020.csv", "--out", csv_out, "--quiet").exit_code == 0
    )
    assert (
        run("score", DATA / "cohort_bandung_2020.xlsx", "--out", xlsx_out, "--quiet").exit_code == 0
    )
    a = pd.read_csv(csv_out).drop(columns=["scored_at"])
    b = pd.read_csv(xlsx_out).drop(columns=["scored_at"])
    assert len(a) == 85
    assert a["row"].tolist() == list(range(2, 87))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "parquet", "json", "jsonl"])
def test_every_output_format_is_written_completely(run, tmp_path, suffix):
    out = tmp_path / f"results.{suffix}"
    result = run("score", DATA / "cohort_bandung_2020.csv", "--out", out, "--quiet")
    assert result.exit_code == 0
    assert not (tmp_path / f"results.{suffix}.part").exists()
    if suffix == "csv":
        assert len(pd.read_csv(out)) == 85
    elif suffix == "xlsx":
        assert len(list(openpyxl.load_workbook(out).active.iter_rows())) == 86
    elif suffix == "parquet":
        assert len(pd.read_parquet(out)) == 85
    elif suffix == "json":
        document = json.loads(out.read_text())
        assert (document["received"], document["scored"], document["rejected"]) == (85, 85, 0)
        assert document["results"][0]["row"] == 2
    else:
        lines = out.read_text().splitlines()
        assert len(lines) == 85 and json.loads(lines[0])["sme_id"] == "BDG-2020-001"


def test_mixed_file_reports_rejected_rows_and_exits_3(run, tmp_path):
    source = (DATA / "cohort_bandung_2020.csv").read_text(encoding="utf-8-sig").splitlines()
    header = source[0].split(";")
    bad = source[3].split(";")
    bad[header.index("employees")] = "banyak"
    bad[header.index("sector")] = "space"
    lines = [source[0], source[1], source[2], ";".join(bad), source[4]]
    path = tmp_path / "mixed.csv"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run("score", path, "--out", out, "--quiet")
    assert result.exit_code == EXIT_REJECTED_ROWS
    assert "received 4, scored 3, rejected 1" in result.stderr
    assert "rejected row 4 (BDG-2020-003): " in result.stderr
    rejected = pd.read_csv(tmp_path / "out.rejected.csv")
    assert rejected["row"].tolist() == [4]
    assert "employees" in rejected["errors"][0] and "sector" in rejected["errors"][0]
    assert pd.read_csv(out)["row"].tolist() == [2, 3, 5]


def _mixed_file(tmp_path: Path) -> Path:
    """Four rows of the example cohort, the third of them invalid (row 4, BDG-2020-003)."""
    source = (DATA / "cohort_bandung_2020.csv").read_text(encoding="utf-8-sig").splitlines()
    header = source[0].split(";")
    bad = source[3].split(";")
    bad[header.index("employees")] = "banyak"
    lines = [source[0], source[1], source[2], ";".join(bad), source[4]]
    path = tmp_path / "mixed.csv"
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_table_with_out_writes_the_ranked_table_in_the_named_format(run, tmp_path, suffix):
    out = tmp_path / f"ranked.{suffix}"
    result = run("score", _mixed_file(tmp_path), "--table", "--out", out, "--quiet")
    assert result.exit_code == EXIT_REJECTED_ROWS
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"ranked table written to {out}",
        f"rejected rows written to {tmp_path / 'ranked.rejected.csv'}",
        "rejected row 4 (BDG-2020-003): employees: Not a valid integer.",
        "received 4, scored 3, rejected 1",
    ]
    if suffix == "xlsx":
        rows = list(openpyxl.load_workbook(out).active.values)
    else:
        rows = [tuple(r) for r in pd.read_csv(out, keep_default_na=False).itertuples(index=False)]
        rows.insert(0, tuple(pd.read_csv(out).columns))
    assert rows[0] == (
        "rank",
        "sme_id",
        "name",
        "sector",
        "score",
        "tier",
        "next_step",
        "knockouts",
    )
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    scores = [r[4] for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    assert {r[1] for r in rows[1:]} == {"BDG-2020-001", "BDG-2020-002", "BDG-2020-004"}
    assert not out.with_name(out.name + ".part").exists()


def test_lang_id_speaks_indonesian_in_messages_and_table(run, tmp_path):
    result = run("score", _mixed_file(tmp_path), "--table", "--lang", "id", "--quiet")
    assert result.exit_code == EXIT_REJECTED_ROWS
    assert result.stderr.splitlines() == [
        "baris 4 (BDG-2020-003) ditolak: employees: Masukkan bilangan bulat.",
        "diterima 4, dinilai 3, ditolak 1",
    ]
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "  #  sme_id         nama                           sektor                skor  "
        "tingkat            langkah berikutnya"
    )
    assert lines[-1].startswith("tingkat: ")
    assert any("Siap ekspor" in line or "Berkembang" in line for line in lines[2:5])
    refused = run("score", DATA / "cohort_bandung_2020.csv", "--lang", "id", "--out", "x.txt")
    assert refused.exit_code == EXIT_INPUT
    assert refused.stderr == (
        "galat: --out harus berakhiran salah satu dari .csv, .xlsx, .parquet, .jsonl, .json\n"
    )


def test_unreadable_file_fails_with_one_line_and_leaves_no_output(run, tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    out = tmp_path / "out.csv"
    result = run("score", path, "--out", out)
    assert result.exit_code == EXIT_INPUT
    assert result.stderr.splitlines()[-1].startswith("error: broken.xlsx: not a readable XLSX")
    assert not out.exists() and not (tmp_path / "out.csv.part").exists()


def test_unknown_output_format_is_refused(run, tmp_path):
    result = run("score", DATA / "cohort_bandung_2020.csv", "--out", tmp_path / "x.txt")
    assert result.exit_code == EXIT_INPUT
    assert "--out must end in one of" in result.stderr


def test_ranked_table_lists_every_sme_once(run):
    result = run("score", DATA / "cohort_bandung_2020.csv", "--table", "--quiet")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "BDG-2020-" in line]
    assert len(rows) == 85
    tiers = "Export ready|Nearly export ready|Developing|Not yet export ready"
    found = [re.search(rf"\s(\d+\.\d)\s+({tiers})\s", r) for r in rows]
    scores = [float(m.group(1)) for m in found]
    assert scores == sorted(scores, reverse=True)
    assert len({line.split()[1] for line in rows}) == 85


def test_ruleset_check_accepts_the_default(run):
    result = run("ruleset", "check", RULESET)
    assert result.exit_code == 0
    assert result.stdout.startswith("ok: ruleset default version 2026.11.3+")


def test_ruleset_check_names_each_broken_criterion(run, tmp_path):
    text = RULESET.read_text()
    broken = text.replace("category: legal", "category: lega", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = run("ruleset", "check", path)
    assert result.exit_code == EXIT_INPUT
    assert "legal.nib" in result.stderr and "lega" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {path}: 1 problem(s)")


def test_scoring_with_a_tampered_model_fails_with_what_to_do(run, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(DATA.parent / "models", models)
    version = (models / "ACTIVE").read_text().strip()
    artifact = models / version / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"x")
    result = run("score", DATA / "example_profile.json", "--models-dir", models)
    assert result.exit_code == EXIT_INPUT
    assert "does not match its manifest" in result.stderr
    assert "sme-export train" in result.stderr


def test_generate_data_then_train_registers_a_model(run, tmp_path):
    data = tmp_path / "data"
    result = run("generate-data", "--out-dir", data, "--rows", 2000, "--seed", 3)
    assert result.exit_code == 0
    assert (data / "training.parquet").exists() and (data / "cohort_bandung_2020.csv").exists()
    models = tmp_path / "models"
    result = run("train", "--data", data / "training.parquet", "--models-dir", models, "--activate")
    assert result.exit_code == 0, result.stderr
    version = (models / "ACTIVE").read_text().strip()
    manifest = json.loads((models / version / "manifest.json").read_text())
    assert manifest["training_data"]["rows"] == 2000
    assert f"model {version} written to" in result.stdout


def test_train_refuses_a_file_with_invalid_rows(run, tmp_path):
    frame = pd.read_parquet(DATA / "training.parquet").head(50)
    frame.loc[3, "employees"] = -1
    path = tmp_path / "outcomes.parquet"
    frame.to_parquet(path)
    result = run("train", "--data", path, "--models-dir", tmp_path / "m")
    assert result.exit_code == EXIT_INPUT
    assert "rejected row 4" in result.stderr
    assert "1 of 50 rows are invalid" in result.stderr
    assert not (tmp_path / "m").exists()


def test_every_command_is_found_by_its_name_and_listed_in_the_help(run):
    from api.cli import COMMANDS

    listed = run("--help").stdout.split("Commands:")[1]
    for name in COMMANDS:
        assert main.get_command(None, name).name == name
        assert re.search(rf"^  {re.escape(name)}\s", listed, re.MULTILINE), name
    assert main.get_command(None, "nosuch") is None


def test_the_command_line_imports_a_command_only_when_it_runs(tmp_path):
    """rescore's worker processes run the command's script again before they score: they
    must not import the web service and the database layer with it."""
    import subprocess
    import sys

    code = (
        "import sys, api.cli\n"
        "heavy = {'sqlalchemy', 'flask_smorest', 'scoring.engine', 'pandas', 'sklearn'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_scoring_a_file_imports_neither_scikit_learn_nor_a_database_library(tmp_path):
    """`score FILE` and `rescore` read the model's tables: starting them costs no
    scikit-learn import (about a second) and no SQLAlchemy."""
    import subprocess
    import sys

    out = tmp_path / "scored.csv"
    code = (
        "import sys\n"
        "from api.cli import main\n"
        f"for args in (['rescore', {str(DATA / 'cohort_bandung_2020.csv')!r}, '--out', "
        f"{str(out)!r}], ['score', {str(DATA / 'example_profile.json')!r}]):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, done.code\n"
        "print(sorted({'sklearn', 'sqlalchemy', 'joblib'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(out.read_text().splitlines()) > 1


def test_a_rescoring_pool_process_imports_only_what_scoring_needs():
    """A pool process unpickles its tasks (``scoring.batch.workers``) and the prepared
    tables (``scoring.contract.validate``) and scores: no file readers, no spreadsheet
    library, no scikit-learn, no web or database layer."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import api.cli, scoring.batch.workers, scoring.contract.validate, scoring.engine\n"
        "heavy = {'openpyxl', 'scoring.files.readers', 'sklearn', 'joblib', 'flask',\n"
        "         'sqlalchemy'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
