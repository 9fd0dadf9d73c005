"""Walking-coverage planner for public-health facilities: networks, travel times, coverage, siting.

Everything a notebook needs is here::

    import planner
    study = planner.load_study("study.toml")            # or load_study(network=..., facilities=[...], ...)
    res = planner.coverage(study)                        # CoverageResult: .summary, .demand_table
    sites = planner.propose(study, "aed", count=222)     # SitingResult: .sites
    acc = planner.access(study, "health_centre", supply_column="doctors")   # E2SFCA per resident

The heavier submodules are imported on first use, so ``import planner`` stays quick.
"""
from ._errors import InfeasibleError, InputError, NetworkError, OfflineError, PlannerError, Problem

__version__ = "0.1.0"

#: public name -> (submodule, attribute): imported on first use (PEP 562)
_LAZY = {
    "load_study": ("study", "load_study"),
    "build_study": ("study", "build_study"),
    "read_study_file": ("study", "read_study_file"),
    "write_study_file": ("study", "write_study_file"),
    "Study": ("study", "Study"),
    "StudySpec": ("study", "StudySpec"),
    "Layer": ("study", "Layer"),
    "NetworkSource": ("study", "NetworkSource"),
    "Goals": ("study", "Goals"),
    "coverage": ("scenario", "coverage"),
    "CoverageResult": ("scenario", "CoverageResult"),
    "propose": ("siting", "propose_sites"),
    "SitingResult": ("siting", "SitingResult"),
    "WhatIf": ("siting", "WhatIf"),
    "access": ("fca", "access"),
    "AccessResult": ("fca", "AccessResult"),
    "AccessWhatIf": ("fca", "AccessWhatIf"),
    "propose_time": ("siting_median", "propose_time"),
    "TimeSitingResult": ("siting_median", "TimeSitingResult"),
    "relocate_one": ("relocate", "relocate_one"),
    "RelocationResult": ("relocate", "RelocationResult"),
    "FacilityType": ("config", "FacilityType"),
    "FacilityTypes": ("config", "FacilityTypes"),
    "load_facility_types": ("config", "load_facility_types"),
}

__all__ = [
    *_LAZY,
    "PlannerError", "InputError", "NetworkError", "OfflineError", "InfeasibleError", "Problem", "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'planner' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
