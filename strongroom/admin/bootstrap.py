"""The first admin from ``STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD``, once, at start-up.

Only when no admin exists at all; the password must pass the policy and must be
changed at first sign-in, since it sat in the environment. No code path creates an
account with a fixed or default password.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from strongroom.admin import services
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import AuthError
from strongroom.auth.models import Role, User
from strongroom.db import Database
from strongroom.settings import ConfigError

log = logging.getLogger(__name__)


def bootstrap_admin(database: Database, deps: AuthDeps) -> None:
    secret = deps.settings.bootstrap_admin_password
    if secret is None:
        return
    with database.session() as db:
        if db.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is not None:
            log.info("an admin exists; STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD ignored (remove it)")
            return
        try:
            user = services.create_user(
                db,
                deps,
                actor="system:bootstrap",
                username=deps.settings.bootstrap_admin_username,
                password=secret.get_secret_value(),
                role=Role.ADMIN,
            )[0]
            user.must_change_password = True
            db.commit()
        except AuthError as err:
            raise ConfigError(
                [f"STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD / _USERNAME cannot be used: {err}"]
            ) from err
        except IntegrityError:
            db.rollback()  # another process created it first
            return
    log.warning(
        "created the first admin from STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD; remove that setting now",
        extra={"username": user.username},
    )
