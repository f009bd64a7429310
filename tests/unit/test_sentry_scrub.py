"""The Sentry scrubber on its own: by key, by value shape, section by section."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from strongroom.logs import request_id_var
from strongroom.ops.errortracking import scrub_breadcrumb, scrub_event, scrub_text

R = "[redacted]"
TOKEN = "Ab1" + secrets.token_urlsafe(40)  # mixed case and a digit, like real tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer srp_abc123", f"Authorization: Bearer {R}"),
        ("sent srs_abcDEF123-_x as a cookie", f"sent {R} as a cookie"),
        ("invite sri_Qw3 and challenge src_Zz9", f"invite {R} and challenge {R}"),
        (f"GET /s/{TOKEN}/content 500", f"GET /s/{R}/content 500"),
        ("https://files.example/s/abc", f"https://files.example/s/{R}"),
        ("/api/v1/files?name=secret.pdf&x=1 failed", f"/api/v1/files?{R} failed"),
        ("postgresql://app:hunter2@db:5432/x", f"postgresql://app:{R}@db:5432/x"),
        (
            "strongroom_session=abc; __Host-strongroom_form_csrf=d",
            f"strongroom_session={R}; __Host-strongroom_form_csrf={R}",
        ),
        ('{"password": "hunter2", "size": 3}', f'{{"password": {R}, "size": 3}}'),
        ("code=123456 status_code=500", f"code={R} status_code=500"),
        ("recovery codes abcd-efgh-ijkl-mn2p", f"recovery codes {R}"),
        (
            "X-Amz-Signature=abc&X-Amz-Credential=AKIA/x",
            f"X-Amz-Signature={R}&X-Amz-Credential={R}",
        ),
        (f"raw {TOKEN} here", f"raw {R} here"),
        # What must stay readable: request ids, digests, identifiers, file ids.
        ("request d01cd279969e28bf6b9d52415c07628d", None),
        ("sha256 " + "ab" * 32, None),
        ("in test_other_modes_send_every_header_but_hsts", None),
        ("file_id=Wfhs25O0gWhGKwFGXd_GwvZH", None),
        ("/api/v1/files/Wfhs25O0gWhGKwFGXd_GwvZH/content", None),
    ],
)
def test_scrub_text(text: str, expected: str | None) -> None:
    assert scrub_text(text) == (text if expected is None else expected)


def event() -> dict[str, Any]:
    return {
        "request": {
            "method": "POST",
            "url": f"https://files.example/s/{TOKEN}",
            "query_string": "name=plans.pdf",
            "cookies": {"strongroom_session": "srs_x"},
            "data": {"password": "hunter2"},
            "env": {"REMOTE_ADDR": "203.0.113.9"},
            "headers": {
                "Authorization": "Bearer srp_x",
                "X-CSRF-Token": "csrf-value",
                "X-File-Name": "plans.pdf",
                "Referer": "https://files.example/s/abc",
                "Content-Type": "application/json",
                "User-Agent": "curl/8",
            },
        },
        "user": {"id": "7", "ip_address": "203.0.113.9", "username": "alice"},
        "extra": {"name": "plans.pdf", "size": 3, "nested": {"filename": "a.txt", "ok": 1}},
        "contexts": {"runtime": {"name": "CPython"}, "auth": {"api_key": "k"}},
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": "postgresql://app:pw@db/x is down",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "strongroom/app.py",
                                "function": "create_app",
                                "vars": {"password": "hunter2", "name": "plans.pdf"},
                            }
                        ]
                    },
                }
            ]
        },
        "logentry": {"message": "link %s failed", "params": [f"/s/{TOKEN}"]},
        "breadcrumbs": {
            "values": [{"message": "upload", "data": {"file_name": "plans.pdf", "status": 201}}]
        },
        "modules": {"pyotp": "2.9.0"},
        "spans": [
            {
                "description": "GET https://s3.example/b/k",
                "data": {"http.method": "GET", "http.query": "name=plans.pdf"},
            }
        ],
    }


def test_scrub_event_keeps_only_what_is_safe() -> None:
    token = request_id_var.set("req-1")
    try:
        cleaned = scrub_event(event())
    finally:
        request_id_var.reset(token)
    assert cleaned["request"] == {
        "method": "POST",
        "url": f"https://files.example/s/{R}",
        "headers": {"Content-Type": "application/json", "User-Agent": "curl/8"},
    }
    assert "user" not in cleaned
    assert cleaned["extra"] == {"name": R, "size": 3, "nested": {"filename": R, "ok": 1}}
    assert cleaned["contexts"] == {"runtime": {"name": "CPython"}, "auth": {"api_key": R}}
    (value,) = cleaned["exception"]["values"]
    assert value["value"] == R  # messages may quote user input: type and stack only
    assert value["stacktrace"]["frames"] == [
        {"filename": "strongroom/app.py", "function": "create_app"}
    ]
    # The template only: arguments and the formatted text may hold anything.
    assert cleaned["logentry"] == {"message": event()["logentry"]["message"]}
    assert cleaned["breadcrumbs"]["values"][0]["data"] == {"file_name": R, "status": 201}
    assert cleaned["modules"] == {"pyotp": "2.9.0"}
    (span,) = cleaned["spans"]
    assert span == {"description": "GET https://s3.example/b/k", "data": {"http.method": "GET"}}
    assert cleaned["tags"] == {"request_id": "req-1"}


def test_no_request_id_outside_a_request() -> None:
    assert "tags" not in scrub_event({"message": "startup"})


def test_breadcrumbs_lose_query_strings_and_personal_data() -> None:
    crumb = {
        "type": "http",
        "category": "httplib",
        "data": {
            "url": "https://s3.example/bucket/key?X-Amz-Signature=abc",
            "http.query": "X-Amz-Signature=abc",
            "method": "GET",
        },
        "message": None,
    }
    cleaned = scrub_breadcrumb(crumb)
    assert cleaned["data"] == {"url": f"https://s3.example/bucket/key?{R}", "method": "GET"}
    logged = scrub_breadcrumb({"category": "x", "message": "renamed", "data": {"new_name": "b"}})
    assert logged["data"] == {"new_name": R}


def test_a_log_breadcrumb_keeps_its_template_not_its_arguments() -> None:
    record = logging.LogRecord(
        "strongroom.files", logging.INFO, __file__, 1, "stored %s for %s",
        ("merger-plans.pdf", "alice@example.com"), None,
    )  # fmt: skip
    crumb = {"category": "strongroom.files", "message": record.getMessage(), "level": "info"}
    cleaned = scrub_breadcrumb(crumb, {"log_record": record})
    assert cleaned["message"] == "stored %s for %s"
    assert "merger" not in repr(cleaned)
    assert "alice" not in repr(cleaned)
