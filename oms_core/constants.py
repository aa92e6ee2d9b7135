"""The project's names: one for the distribution on the package index, one for the
pluggy project, hook markers, entry-point group and `app.extensions` key."""

DISTRIBUTION_NAME = "Flask-OMS"
# Every plugin distribution's name starts with this (flask-oms-stripe, ...).
PLUGIN_DISTRIBUTION_PREFIX = "flask-oms-"
PROJECT_NAME = "flask_oms"
ENTRY_POINT_GROUP = PROJECT_NAME
CONFIG_PREFIX = "OMS_"
EXTENSION_KEY = PROJECT_NAME  # key in app.extensions
