"""All tables of the OMS. Import from here."""
from .alerts import Alert, AlertDigest
from .assembly import AssemblyJob
from .catalog import Product, StockMove
from .complaints import Complaint, ComplaintAttachment, ComplaintMessage, Upload
from .documents import Document, DocumentCounter
from .forecasts import ForecastRun, ForecastSeries
from .inbound import InboundEvent, UnmatchedEvent
from .orders import Customer, Order, OrderLine, TimelineEvent, order_number
from .outbound_webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .outbox import OutboxMessage
from .payments import Payment, PaymentEvent, Refund
from .returns import ReturnLine, ReturnRequest
from .shipments import Shipment, ShipmentEvent, ShipmentLine
from .staff import ALERT_DELIVERIES, ROLES, StaffAuditEvent, StaffToken, StaffUser

__all__ = [
    "ALERT_DELIVERIES", "Alert", "AlertDigest", "AssemblyJob", "Complaint", "ComplaintAttachment",
    "ComplaintMessage", "Customer", "Document", "DocumentCounter",
    "ForecastRun", "ForecastSeries", "InboundEvent", "Order", "OrderLine", "OutboxMessage",
    "Payment", "PaymentEvent", "Product", "ROLES", "Refund", "ReturnLine", "ReturnRequest",
    "Shipment", "ShipmentEvent", "ShipmentLine", "StaffAuditEvent", "StaffToken", "StaffUser", "StockMove",
    "TimelineEvent", "UnmatchedEvent", "Upload", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint",
    "order_number",
]
