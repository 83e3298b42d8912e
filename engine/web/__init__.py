"""``backplan serve``: the questionnaire as a web page and the HTTP API (SPEC.md, "HTTP API").

Everything here is presentation over the library: the questions come from ``engine.questionnaire``
(the same knowledge, groups and order as ``backplan intake``), answers are validated by
``engine.intake``, plans come from ``engine.recommend`` and the reasons from ``engine.explain``.
Nothing is kept between requests: N replicas with the same rules and knowledge serve the same plans.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
