"""The one project name: pluggy project, hook markers, entry-point group, config prefix."""

PROJECT_NAME = "oms"
ENTRY_POINT_GROUP = PROJECT_NAME
CONFIG_PREFIX = "OMS_"
EXTENSION_KEY = PROJECT_NAME  # key in app.extensions
