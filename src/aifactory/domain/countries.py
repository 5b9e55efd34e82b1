"""Country codes (ISO 3166-1 alpha-2) the platform accepts."""

from __future__ import annotations

# EuroHPC JU participating states as we know them (the EU 27 plus associated countries; check
# the JU's current list): organisations established there are eligible. A few common others
# let an operator outside them describe a machine in the catalog. Greece is GR.
_EU27 = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
_ASSOCIATED = "IS ME MK MD NO RS TR CH GB"
_OTHERS = "AL BA UA LI US CA JP"
EUROHPC_COUNTRIES: frozenset[str] = frozenset(f"{_EU27} {_ASSOCIATED}".split())
OTHER_COUNTRIES: frozenset[str] = frozenset(_OTHERS.split())
COUNTRIES: frozenset[str] = EUROHPC_COUNTRIES | OTHER_COUNTRIES
