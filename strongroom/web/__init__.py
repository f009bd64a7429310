"""The web interface: server-rendered pages over the same services as the API.

Importing the package registers every page module's routes on ``blueprint.bp``.
"""

from strongroom.web import files, signin
from strongroom.web.blueprint import bp

__all__ = ["bp", "files", "signin"]
