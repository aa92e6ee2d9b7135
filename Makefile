# The two commands of the README:
#   make demo   install into .venv, create the demo database, start shop + back-office
#   make test   install into .venv (with test extras) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := plugins/sklearn_forecaster plugins/stripe plugins/easypost plugins/karrio
# Strict editable install: maps web/ -> oms_web and templates/ -> oms_web.templates.
# It links files, so re-run `make install` after adding a new file.
EDITABLE := --config-settings editable_mode=strict

.PHONY: install install-test demo test clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[postgres,server]" $(EDITABLE)
	for p in $(PLUGINS); do $(BIN)/pip install -q -e $$p || exit 1; done
	@$(BIN)/python -c "import weasyprint" 2>/dev/null || { \
	    echo "WeasyPrint (PDF invoices) cannot load the system's pango. On Debian/Ubuntu:"; \
	    echo "    apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"; }

# Plugins' own test extras too (karrio's: the UPS and DHL Parcel DE extensions its tests drive).
install-test: install
	$(BIN)/pip install -q -e ".[test]" $(EDITABLE)
	for p in $(PLUGINS); do $(BIN)/pip install -q -e "$$p[test]" || exit 1; done

demo: install
	$(BIN)/oms-demo

# Two workers by default: the suite takes about 2.5 minutes on 2 cores (5 serially).
PYTEST_ARGS ?= -n auto

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# After changing a customer-facing text: re-extract (babel.cfg), merge into each
# language's .po (translate the new entries there), compile the .mo files; commit all.
BABEL_KEYWORDS := --no-default-keywords -k _ -k gettext -k N_ -k ngettext:1,2
translations:
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --sort-by-file --project Flask-OMS -o oms_core/translations/messages.pot .
	$(BIN)/pybabel update -i oms_core/translations/messages.pot -d oms_core/translations --width 100
	$(BIN)/pybabel compile -d oms_core/translations --statistics

clean:
	rm -rf $(VENV) build *.egg-info demo-data
