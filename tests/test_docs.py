"""The documentation links only to files that are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Markdown links and images: [text](target) / ![alt](target).
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = [m.group(1) for m in _LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_in_the_repository(document):
    missing = [
        target
        for target in relative_links(document)
        if not (document.parent / target.split("#")[0]).resolve().exists()
    ]
    assert missing == []


def test_the_contract_and_the_domain_facts_are_linked_not_the_outside_spec():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    data_card = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert "docs/contract.md" in relative_links(ROOT / "README.md")
    assert "SPEC.md" not in readme and "DOMAIN.md" not in data_card
    assert "../docs/domain-facts.md" in relative_links(ROOT / "data" / "README.md")
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    from scoring.contract.fields import ALL_COLUMNS

    for name in ALL_COLUMNS:
        assert f"`{name}`" in contract, name
