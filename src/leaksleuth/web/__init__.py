"""web: the FastAPI adapter of the alert service (needs leaksleuth[service])."""

from leaksleuth.extras import require_extra

require_extra("service", "fastapi", "jinja2")
