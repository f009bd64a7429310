"""The audit vocabulary is documented in full, and record_event keeps to it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from strongroom.ledger.services import _clean_details, record_event
from strongroom.ledger.vocabulary import TAGS

REPO = Path(__file__).resolve().parents[2]


def test_every_tag_is_documented_with_its_meaning() -> None:
    documented = (REPO / "docs" / "security.md").read_text()
    missing = [tag for tag, meaning in TAGS.items() if f"| `{tag}` | {meaning} |" not in documented]
    assert missing == [], "add these rows to the vocabulary table in docs/security.md"


@pytest.mark.parametrize("tag", sorted(TAGS))
def test_tags_have_the_domain_subject_action_shape(tag: str) -> None:
    parts = tag.split(":")
    assert len(parts) in {2, 3}
    assert all(part and part == part.lower() for part in parts)


def test_record_event_refuses_unknown_tags_and_secret_details() -> None:
    db = Session()  # nothing is flushed: record_event only adds to the transaction
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="unknown audit tag"):
        record_event(db, "account:made-up", actor="anonymous", target="x", at=now)
    for key in ("password", "Token", "code"):
        with pytest.raises(ValueError, match="must not carry secrets"):
            record_event(
                db, "account:signout", actor="user:1", target="session:1",
                details={key: "x"}, at=now,
            )  # fmt: skip
    assert len(_clean_details({"note": "y" * 1000})["note"]) == 256
