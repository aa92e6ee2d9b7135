"""The demo shop: a small host Flask app that mounts the OMS like any shop would.

`oms-demo` (see `__main__`) prepares an SQLite database with demo data and serves
the shop, the back-office and the tracking page; `oms_demo.app:create_app()` is
the app factory for `flask --app oms_demo.app` and gunicorn.
"""
