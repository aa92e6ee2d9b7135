"""Order management core: models, services, state machines and the plugin system.

Nothing in this package handles requests or renders HTML pages; the web layer
(`oms_web`) and the plugins build on it.
"""
from .constants import PROJECT_NAME

__all__ = ["PROJECT_NAME"]
__version__ = "0.1.0"
