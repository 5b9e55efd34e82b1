"""The hard filters: a partition either passes them all or the job cannot run there, and the
user reads why. One function per filter, checked in the order of ``STATIC``; the first that
fails names itself in the verdict.

The static filters depend only on the job, the site and the partition, so the cycle computes
them once per distinct job shape. Health and allocations change by the pass and are checked by
the cycle (``Filter.HEALTH``, ``Filter.ALLOCATION``).
"""

from __future__ import annotations

from collections.abc import Callable

from aifactory.domain.catalog import ExecutorKind, Partition, Site, SoftwareStack
from aifactory.domain.jobs import JobStack
from aifactory.scheduling.fit import Need, resolve
from aifactory.scheduling.model import Demand, Filter, OrgRule, Residency

Test = Callable[[Demand, Site, Partition], str | None]


def _site(d: Demand, site: Site, part: Partition) -> str | None:
    if d.sites and site.id not in d.sites:
        return f"excluded by the job's site constraint ({', '.join(d.sites)})"
    return None


def _partition(d: Demand, site: Site, part: Partition) -> str | None:
    if d.partitions and part.id not in d.partitions:
        return f"excluded by the job's partition constraint ({', '.join(d.partitions)})"
    return None


def _country(d: Demand, site: Site, part: Partition) -> str | None:
    if d.countries and site.country not in d.countries:
        return f"site is in {site.country}; the job may run only in {', '.join(d.countries)}"
    return None


def _operational(d: Demand, site: Site, part: Partition) -> str | None:
    if site.is_operational:
        return None
    when = f" (available from {site.available_from.isoformat()})" if site.available_from else ""
    return f"site is {site.status.value}{when}, not operational"


def _simulated(d: Demand, site: Site, part: Partition) -> str | None:
    if part.executor is ExecutorKind.SIMULATED and not d.simulate:
        return "simulated partition (a digital twin that runs no code); set simulate: true"
    return None


def _experimental(d: Demand, site: Site, part: Partition) -> str | None:
    if d.experimental and not site.experimental:
        return "not an experimental platform; the job is marked experimental"
    return None


def _accelerator(d: Demand, site: Site, part: Partition) -> str | None:
    if d.accelerator != "any" and d.accelerator != part.accelerator:
        return f"has {part.accelerator}, the job needs {d.accelerator}"
    return None


def _stack(d: Demand, site: Site, part: Partition) -> str | None:
    if d.stack is JobStack.ANY or SoftwareStack(d.stack.value) in part.software_stacks:
        return None
    stacks = "/".join(sorted(s.value for s in part.software_stacks))
    why = f" ({d.stack_why})" if d.stack_why else ""
    return f"software stack is {stacks}, the job is built for {d.stack.value}{why}"


def _fit(d: Demand, site: Site, part: Partition) -> str | None:
    need = resolve(d, part)
    return need if isinstance(need, str) else None


def _walltime(d: Demand, site: Site, part: Partition) -> str | None:
    if d.walltime_s is not None and d.walltime_s > part.max_walltime_s:
        return f"maximum walltime is {part.max_walltime_s} s, the job asks for {d.walltime_s} s"
    return None


STATIC: tuple[tuple[Filter, Test], ...] = (
    (Filter.SITE, _site),
    (Filter.PARTITION, _partition),
    (Filter.COUNTRY, _country),
    (Filter.OPERATIONAL, _operational),
    (Filter.SIMULATED, _simulated),
    (Filter.EXPERIMENTAL, _experimental),
    (Filter.ACCELERATOR, _accelerator),
    (Filter.STACK, _stack),
    (Filter.FIT, _fit),
    (Filter.WALLTIME, _walltime),
)


def residency(res: Residency | None, site: Site) -> str | None:
    """The job's data may not be processed at this site."""
    if res is None:
        return None
    if (res.sites is None or site.id in res.sites) and (
        res.countries is None or site.country in res.countries
    ):
        return None
    for r in res.rules:  # the first dataset whose own rule excludes the site
        if r.sites is not None and site.id not in r.sites:
            return f"data residency: dataset {r.dataset} may be processed only at {r.rule}"
        if r.countries is not None and site.country not in r.countries:
            return (
                f"data residency: dataset {r.dataset} may be processed only in {r.rule}, "
                f"not {site.country}"
            )
    names = ", ".join(res.datasets) or "the job's data"
    if res.sites is not None and site.id not in res.sites:
        return f"data residency: {names} may be processed only at {', '.join(sorted(res.sites))}"
    if res.countries is not None and site.country not in res.countries:
        allowed = ", ".join(sorted(res.countries)) or "no country"
        return f"data residency: {names} may be processed only in {allowed}, not {site.country}"
    return None


def organisation(rule: OrgRule | None, site: Site) -> str | None:
    """An operator's restriction on the organisation excludes this site."""
    if rule is None:
        return None
    if (rule.sites is not None and site.id not in rule.sites) or (
        rule.countries is not None and site.country not in rule.countries
    ):
        return f"organisation restricted by an operator: {rule.reason}"
    return None


def check(
    d: Demand,
    site: Site,
    part: Partition,
    res: Residency | None = None,
    rule: OrgRule | None = None,
) -> tuple[Filter, str] | Need:
    """The first static filter the partition fails, with the reason; else the job's need
    there (``scheduling.fit``)."""
    for name, test in STATIC:
        reason = test(d, site, part)
        if reason is not None:
            return name, reason
    reason = residency(res, site)
    if reason is not None:
        return Filter.RESIDENCY, reason
    reason = organisation(rule, site)
    if reason is not None:
        return Filter.ORGANISATION, reason
    need = resolve(d, part)
    assert not isinstance(need, str)  # the fit filter passed
    return need


def first_failed(
    d: Demand,
    site: Site,
    part: Partition,
    res: Residency | None = None,
    rule: OrgRule | None = None,
) -> tuple[Filter, str] | None:
    """The first static filter the partition fails, with the reason; None when all pass."""
    found = check(d, site, part, res, rule)
    return None if isinstance(found, Need) else found
