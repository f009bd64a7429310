"""The web interface: server-rendered pages over the same services as the API.

Importing the package registers every page module's routes on ``blueprint.bp``.
"""

from strongroom.web import (
    account,
    account_security,
    account_tokens,
    admin,
    admin_status,
    admin_user,
    error_page,
    file_detail,
    file_sharing,
    files,
    ledger,
    shared,
    signin,
)
from strongroom.web.blueprint import bp

__all__ = [
    "account",
    "account_security",
    "account_tokens",
    "admin",
    "admin_status",
    "admin_user",
    "bp",
    "error_page",
    "file_detail",
    "file_sharing",
    "files",
    "ledger",
    "shared",
    "signin",
]
