"""Webhook endpoints for gateways and carriers (placeholder)."""
from flask import Blueprint

blueprint = Blueprint("oms_webhooks", __name__)
