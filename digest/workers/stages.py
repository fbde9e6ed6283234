"""The stages `digest run` hands to the workers on PostgreSQL, by name (the others run in its
own process): each has the signature of its in-process twin in digest/pipeline.py."""

from __future__ import annotations

from collections.abc import Callable

from digest.workers.fleet import fleet_embed, fleet_plan, fleet_send
from digest.workers.site_jobs import fleet_site

FLEET_STAGES: dict[str, Callable[..., dict]] = {
    "embed": fleet_embed,
    "plan": fleet_plan,
    "send": fleet_send,
    "site": fleet_site,
}
