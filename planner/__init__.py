"""Walking-coverage planner for public-health facilities: networks, travel times, coverage, siting."""
from ._errors import InfeasibleError, InputError, NetworkError, OfflineError, PlannerError, Problem

__version__ = "0.1.0"
__all__ = ["PlannerError", "InputError", "NetworkError", "OfflineError", "InfeasibleError", "Problem", "__version__"]
